//! Subcommands other than `serve`: import, export, user accounts, regions and demand.

use crate::auth;
use crate::config::{
    DemandCommand, ExportArgs, ExportFormat, ImportArgs, RegionsCommand, UserCommand,
};
use crate::domain::Role;
use crate::io::{demand, export, import, regions};
use crate::store;
use anyhow::Context;
use std::io::{BufRead, IsTerminal, Write};

/// `yizhan import FILE`: validates the whole file, then writes it in one transaction.
pub async fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let parsed = import::parse_file(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let store = store::connect(&args.store.database_url).await?;
    let result = import::import_parsed(store.as_ref(), &parsed).await;
    store.close().await;
    let ids = result
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", args.file.display()))?;
    eprintln!(
        "imported {} stations from {}",
        ids.len(),
        args.file.display()
    );
    Ok(())
}

/// `yizhan regions import FILE`: validates the whole file, derives missing parents, then
/// writes every region in one transaction.
pub async fn run_regions(cmd: RegionsCommand) -> anyhow::Result<()> {
    match cmd {
        RegionsCommand::Import(args) => {
            let store = store::connect(&args.store.database_url).await?;
            let result = regions::load_regions_file(store.as_ref(), &args.file).await;
            store.close().await;
            let n = result.map_err(|e| {
                anyhow::anyhow!("{}: {e}; nothing was imported", args.file.display())
            })?;
            eprintln!(
                "imported {n} regions (derived parents included) from {}",
                args.file.display()
            );
        }
    }
    Ok(())
}

/// `yizhan demand import FILE [--append]`: validates the whole file, aggregates it to H3
/// cells and stores them in one transaction (replacing stored demand unless `--append`).
pub async fn run_demand(cmd: DemandCommand) -> anyhow::Result<()> {
    match cmd {
        DemandCommand::Import(args) => {
            let store = store::connect(&args.store.database_url).await?;
            let result = demand::import_demand_file(store.as_ref(), &args.file, args.append).await;
            store.close().await;
            let done = result.map_err(|e| {
                anyhow::anyhow!("{}: {e}; nothing was imported", args.file.display())
            })?;
            eprintln!(
                "read {} demand points from {}; stored {} cells ({})",
                done.points,
                args.file.display(),
                done.cells,
                if args.append {
                    "added to the demand already stored"
                } else {
                    "replacing the demand stored before"
                }
            );
        }
    }
    Ok(())
}

/// `yizhan export`: every active station as CSV or GeoJSON.
pub async fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let store = store::connect(&args.store.database_url).await?;
    let stations = store.load_stations().await;
    store.close().await;
    let stations = stations?;
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

/// `yizhan user add|passwd`: create an account or set its password.
pub async fn run_user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add(args) => {
            match args.role {
                Role::Admin if !args.stations.is_empty() => {
                    anyhow::bail!("an admin manages every station; --station is for managers only")
                }
                Role::Planner if !args.stations.is_empty() => {
                    anyhow::bail!("a planner manages no station; --station is for managers only")
                }
                Role::Admin | Role::Manager | Role::Planner => {}
            }
            let password = read_new_password()?;
            let hash = auth::hash_password(&password)?;
            let store = store::connect(&args.store.database_url).await?;
            let created = store
                .create_account(&args.login, &hash, args.role, &args.stations)
                .await;
            store.close().await;
            let id = created.with_context(|| format!("creating account {}", args.login))?;
            if args.role == Role::Manager && args.stations.is_empty() {
                eprintln!("note: manager {} has no station yet", args.login);
            }
            eprintln!(
                "created {} {} (id {id}) with {} station(s)",
                args.role,
                args.login,
                args.stations.len()
            );
        }
        UserCommand::Passwd(args) => {
            let store = store::connect(&args.store.database_url).await?;
            if store.account_by_login(&args.login).await?.is_none() {
                anyhow::bail!("no account with login {}", args.login);
            }
            let password = read_new_password()?;
            let hash = auth::hash_password(&password)?;
            let changed = store.set_password(&args.login, &hash).await;
            store.close().await;
            changed.with_context(|| format!("setting the password of {}", args.login))?;
            eprintln!("password of {} changed; its sessions ended", args.login);
        }
    }
    Ok(())
}

/// A new password: one line from stdin when it is not a terminal (scripts, pipes), otherwise
/// typed twice without echo. Never a flag, so it stays out of shell history and `ps`.
fn read_new_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        auth::check_password_policy(&first)?;
        let second = rpassword::prompt_password("Repeat it: ")?;
        anyhow::ensure!(
            first == second,
            "the two passwords differ; nothing was changed"
        );
        first
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    auth::check_password_policy(&password)?;
    Ok(password)
}
