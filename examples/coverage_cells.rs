//! Writes the cells coverage measures, as CSV `cell,lon,lat` (H3 index, centre WGS-84), for
//! loading the same grid into another system (`scripts/coverage_postgis.sh` loads them into
//! PostGIS as its baseline).
//!
//!     cargo run --release --example coverage_cells -- [ADCODE] [RES] [--minutes] > cells.csv
//!
//! ADCODE defaults to 360000 (Jiangxi, from the seed regions), RES to 9. The grid is the one
//! `CoverageService` measures: `Grid::of_counties` over the region's counties. `--minutes` adds
//! a fourth column, yizhan's walking minutes from each cell to its nearest demo station
//! (straight line, default travel model), to check another system's answer cell by cell.

use std::io::{BufWriter, Write};
use yizhan::coverage::grid::Grid;
use yizhan::coverage::travel::{Sources, StraightLine, TravelTimes};
use yizhan::domain::{Adcode, Mode, RegionSet, TravelModel};
use yizhan::index::Snapshot;
use yizhan::io::import::parse_csv;
use yizhan::io::regions::parse_regions_geojson;
use yizhan::io::seed::{DEMO_STATIONS_CSV, JIANGXI_COUNTIES_GEOJSON};

fn main() -> anyhow::Result<()> {
    let (flags, args): (Vec<String>, Vec<String>) =
        std::env::args().skip(1).partition(|a| a.starts_with("--"));
    let with_minutes = flags.iter().any(|f| f == "--minutes");
    if let Some(f) = flags.iter().find(|f| *f != "--minutes") {
        anyhow::bail!("unknown flag {f}; usage: coverage_cells [ADCODE] [RES] [--minutes]");
    }
    let code: Adcode = args.first().map_or("360000", String::as_str).parse()?;
    let res = h3o::Resolution::try_from(args.get(1).map_or("9", String::as_str).parse::<u8>()?)?;
    let regions = RegionSet::new(parse_regions_geojson(JIANGXI_COUNTIES_GEOJSON.as_bytes())?);
    let counties = regions.counties_of(code);
    anyhow::ensure!(
        !counties.is_empty(),
        "no county under {code} in the seed regions"
    );
    let grid = Grid::of_counties(&counties, res)?;
    let minutes = if with_minutes {
        let now = chrono::Utc::now();
        let stations: Vec<_> = parse_csv(DEMO_STATIONS_CSV)?
            .stations
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.into_station(i as i64 + 1, now))
            .collect();
        let snapshot = Snapshot::build(stations, chrono_tz::Asia::Shanghai);
        let travel = StraightLine {
            model: TravelModel::default(),
        };
        let sources = Sources {
            snapshot: &snapshot,
            extra: &[],
        };
        Some(travel.nearest_minutes(&sources, &grid, Mode::Walk))
    } else {
        None
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "cell,lon,lat{}",
        if with_minutes { ",minutes" } else { "" }
    )?;
    for (i, (cell, p)) in grid.cells.iter().zip(&grid.centres).enumerate() {
        // `{}` of an f64 is the shortest text that reads back to the same value.
        write!(out, "{cell},{},{}", p.lon, p.lat)?;
        if let Some(m) = &minutes {
            write!(out, ",{}", m[i])?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    eprintln!("{} cells of {code} at resolution {res}", grid.len());
    Ok(())
}
