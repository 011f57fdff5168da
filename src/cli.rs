//! Subcommands other than `serve`: import and export.

use crate::config::{ExportArgs, ExportFormat, ImportArgs};
use crate::io::{export, import};
use crate::store;
use anyhow::Context;
use std::io::Write;

/// `yizhan import FILE`: validates the whole file, then writes it in one transaction.
pub async fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let parsed = import::parse_file(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let store = store::connect(&args.store.database_url).await?;
    let ids = import::import_parsed(store.as_ref(), &parsed)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", args.file.display()))?;
    eprintln!(
        "imported {} stations from {}",
        ids.len(),
        args.file.display()
    );
    Ok(())
}

/// `yizhan export`: every active station as CSV or GeoJSON.
pub async fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let store = store::connect(&args.store.database_url).await?;
    let stations = store.load_stations().await?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match args.format {
        ExportFormat::Csv => export::write_csv(&mut out, &stations)?,
        ExportFormat::Geojson => export::write_geojson(&mut out, &stations)?,
    }
    out.flush()?;
    Ok(())
}
