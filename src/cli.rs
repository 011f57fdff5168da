//! Subcommands other than `serve`: import, export, user accounts, regions, demand and
//! offline coverage.

use crate::auth;
use crate::config::{
    BackupArgs, CoverageArgs, DemandCommand, ExportArgs, ExportFormat, ImportArgs, OpenFilter,
    RegionsCommand, UserCommand, UserLoginArgs,
};
use crate::coverage::service::{Area, CoverageService, DemandData, DemandSource};
use crate::coverage::travel::StraightLine;
use crate::coverage::Params;
use crate::domain::{CsvText, RegionSet, Role};
use crate::index::StationIndex;
use crate::io::coverage_export::{self, OutputFormat, RunDescription};
use crate::io::{backup, demand, export, import, regions};
use crate::startup::load_index;
use crate::store::{self, Store};
use anyhow::Context;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `yizhan import FILE`: validates the whole file, then writes it in one transaction.
pub async fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let parsed = import::parse_file(&args.file, csv_text(args.csv_raw))
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
        ExportFormat::Csv => export::write_csv(&mut out, &stations, csv_text(args.csv_raw))?,
        ExportFormat::Geojson => export::write_geojson(&mut out, &stations)?,
    }
    out.flush()?;
    Ok(())
}

/// `yizhan backup PATH`: a consistent copy of the SQLite store while it serves; on PostGIS,
/// the pg_dump command to use instead.
pub async fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    let url = &args.store.database_url;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        anyhow::bail!("{}", backup::POSTGIS_HINT);
    }
    let db = store::sqlite::file_of_url(url)
        .with_context(|| format!("{url:?} names no SQLite store (sqlite://PATH)"))?;
    anyhow::ensure!(db.exists(), "no store at {}", db.display());
    anyhow::ensure!(
        !same_file(&db, &args.out),
        "{} is the store itself; back up into a new file",
        args.out.display()
    );
    let done = backup::write_backup(&db, &args.out, args.force).await?;
    eprintln!(
        "backed up {} active stations and {} audit records from {} to {}",
        done.stations,
        done.audit_records,
        db.display(),
        args.out.display()
    );
    Ok(())
}

/// How `--csv-raw` says CSV text cells are written and read.
fn csv_text(raw: bool) -> CsvText {
    if raw {
        CsvText::Raw
    } else {
        CsvText::Neutralised
    }
}

/// `yizhan coverage`: what `GET /api/v1/coverage` answers, measured offline from the store's
/// stations, regions and demand, and written as a file (see [`coverage_export`]).
pub async fn run_coverage(args: CoverageArgs) -> anyhow::Result<()> {
    // Everything that can be refused without the store is refused first.
    OutputFormat::of_path(&args.out)?;
    let model = args.travel.model()?;
    let area = args.area()?;
    let url = &args.store.database_url;
    if let Some(db) = store::sqlite::file_of_url(url) {
        // Opening a missing file would create (and migrate) an empty store as a side effect.
        anyhow::ensure!(
            db.exists(),
            "no store at {} (`yizhan serve` creates and seeds one; or give --database-url)",
            db.display()
        );
        anyhow::ensure!(
            !same_file(&db, &args.out),
            "{} is the store itself; write the coverage to a new file",
            args.out.display()
        );
    }
    coverage_export::check_target(&args.out, args.force)?;

    let store = store::connect(url)
        .await
        .with_context(|| format!("opening the store {url}"))?;
    let demand = args.demand.unwrap_or_default().source();
    let loaded = coverage_inputs(store.as_ref(), area, demand, args.travel.tz).await;
    store.close().await;
    let (regions, index, demand_data) = loaded?;

    let mut service = CoverageService::new(Arc::new(StraightLine { model }), regions, demand_data);
    if let Some(path) = args.osm.clone() {
        let (roads, _) = tokio::task::spawn_blocking(move || {
            crate::network::roads::Roads::load(&path, &model)
                .with_context(|| format!("loading the road network of {}", path.display()))
        })
        .await
        .context("the road network loader stopped")??;
        service = service.with_network(Arc::new(
            crate::coverage::network_travel::NetworkTravel::new(Arc::new(roads)),
        ));
    }
    let service = Arc::new(service);
    let params = Params {
        mode: args.mode,
        minutes: args.minutes,
        only_24h: args.open == OpenFilter::AroundTheClock,
    };
    let res =
        h3o::Resolution::try_from(args.res).with_context(|| format!("resolution {}", args.res))?;
    let (svc, snapshot) = (service.clone(), index.load());
    let (result, _) = tokio::task::spawn_blocking(move || {
        svc.coverage(area, res, params, &snapshot, demand, &[])
    })
    .await
    .context("the coverage computation stopped")??;
    // Only a demand asked for by name deserves a word when there is none.
    if let (Some(asked), None) = (args.demand.and_then(|d| d.source()), result.demand) {
        eprintln!(
            "note: no {} demand is stored; the figures carry no demand columns",
            asked.as_str()
        );
    }

    let run = RunDescription {
        area: service.describe_area(area),
        params,
        res: args.res,
        travel: result.travel.as_str(),
        created_at: chrono::Utc::now(),
    };
    let format = coverage_export::write_coverage(&args.out, args.force, &result, &run).await?;
    let t = &result.coverage.total;
    let label = match run.area_name() {
        Some(name) => format!("{} {name}", run.area_key()),
        None => run.area_key(),
    };
    let no_access = t
        .no_access_km2
        .map(|km2| format!(", {km2} km² without road access"))
        .unwrap_or_default();
    eprintln!(
        "{label} ({} {} min, res {}, {}): {:.1}% covered, {} km² uncovered{no_access}, {} cells, {} ms; wrote {} to {}",
        if args.mode == crate::domain::Mode::Walk { "walk" } else { "ebike" },
        args.minutes,
        args.res,
        result.travel.as_str(),
        t.covered_share * 100.0,
        t.uncovered_km2,
        t.cells,
        result.computed_ms,
        format.contents(),
        args.out.display()
    );
    Ok(())
}

/// Regions (the area checked to exist before any station is read), the station index and,
/// when asked for, the stored demand.
async fn coverage_inputs(
    store: &dyn Store,
    area: Area,
    demand: Option<DemandSource>,
    tz: chrono_tz::Tz,
) -> anyhow::Result<(RegionSet, StationIndex, DemandData)> {
    let regions = RegionSet::new(store.load_regions().await.context("loading the regions")?);
    if let Area::Region(code) = area {
        anyhow::ensure!(
            regions.get(code).is_some(),
            "no region with adcode {code} in the store ({} regions stored; \
             `yizhan regions import FILE.geojson` adds outlines); nothing was written",
            regions.all().len()
        );
    }
    let index = load_index(store, tz).await?;
    let demand = match demand {
        None => DemandData::default(),
        Some(_) => {
            let imported = store
                .load_demand()
                .await
                .context("loading the demand cells")?;
            let queries = store
                .load_query_counts()
                .await
                .context("loading the query counts")?;
            DemandData::new(&imported, queries, 1)
        }
    };
    Ok((regions, index, demand))
}

/// Whether two paths name the same file (the second need not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = p.canonicalize() {
            return Some(c);
        }
        let dir = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Some(dir.canonicalize().ok()?.join(p.file_name()?))
    };
    matches!((canonical(a), canonical(b)), (Some(x), Some(y)) if x == y)
}

/// `yizhan user add|passwd|disable|enable|delete|stations`: manage staff accounts.
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
        UserCommand::Disable(args) => set_disabled(&args, true).await?,
        UserCommand::Enable(args) => set_disabled(&args, false).await?,
        UserCommand::Delete(args) => {
            let store = store::connect(&args.store.database_url).await?;
            let deleted = store.delete_account(&args.login).await;
            store.close().await;
            deleted?;
            eprintln!("deleted {} with its sessions", args.login);
        }
        UserCommand::Stations(args) => {
            let store = store::connect(&args.store.database_url).await?;
            let set = store
                .set_account_stations(&args.login, &args.stations)
                .await;
            store.close().await;
            let ids = set.map_err(|e| anyhow::anyhow!("{e}; nothing was changed"))?;
            eprintln!(
                "{} now manages {} station(s): {}",
                args.login,
                ids.len(),
                args.stations.join(", ")
            );
        }
    }
    Ok(())
}

/// `user disable` (`true`) or `user enable`.
async fn set_disabled(args: &UserLoginArgs, disable: bool) -> anyhow::Result<()> {
    let store = store::connect(&args.store.database_url).await?;
    let changed = store.set_account_disabled(&args.login, disable).await;
    store.close().await;
    let login = &args.login;
    match (changed?, disable) {
        (true, true) => eprintln!("disabled {login}; its sessions ended"),
        (false, true) => eprintln!("{login} was already disabled; no session of it is left"),
        (true, false) => eprintln!("enabled {login}"),
        (false, false) => eprintln!("{login} was not disabled; nothing changed"),
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
