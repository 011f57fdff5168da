//! The county table: one list of figure columns that the CSV (HTTP `format=csv` and
//! `yizhan coverage --out x.csv`) and the GeoPackage `counties` layer all write, so the three
//! cannot drift apart.

use super::service::CoverageResult;
use super::Figures;
use crate::domain::CsvText;
use std::fmt;

/// One figure as written: a count or a measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    /// Cells, stations.
    Count(u64),
    /// Areas, shares, densities, demand.
    Measure(f64),
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Figure::Count(n) => write!(f, "{n}"),
            Figure::Measure(v) => write!(f, "{v}"),
        }
    }
}

/// A figure column: its name and how to read it from a row (`None` when the row has none).
#[derive(Clone, Copy)]
pub struct FigureColumn {
    /// The column name (CSV header, GeoPackage attribute).
    pub name: &'static str,
    /// Whether its values are counts (integers) rather than measures.
    pub is_count: bool,
    /// Its value in a row.
    pub get: fn(&Figures) -> Option<Figure>,
}

impl fmt::Debug for FigureColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

const fn count(name: &'static str, get: fn(&Figures) -> Option<Figure>) -> FigureColumn {
    FigureColumn {
        name,
        is_count: true,
        get,
    }
}

const fn measure(name: &'static str, get: fn(&Figures) -> Option<Figure>) -> FigureColumn {
    FigureColumn {
        name,
        is_count: false,
        get,
    }
}

/// The columns every county row has.
const AREA_COLUMNS: [FigureColumn; 8] = [
    count("cells", |f| Some(Figure::Count(f.cells))),
    count("covered_cells", |f| Some(Figure::Count(f.covered_cells))),
    measure("area_km2", |f| Some(Figure::Measure(f.area_km2))),
    measure("covered_km2", |f| Some(Figure::Measure(f.covered_km2))),
    measure("uncovered_km2", |f| Some(Figure::Measure(f.uncovered_km2))),
    measure("covered_share", |f| Some(Figure::Measure(f.covered_share))),
    count("stations", |f| Some(Figure::Count(f.stations))),
    measure("stations_per_10km2", |f| {
        Some(Figure::Measure(f.stations_per_10km2))
    }),
];

/// The columns added when the travel model may lack road access (network travel).
const ACCESS_COLUMNS: [FigureColumn; 2] = [
    count("no_access_cells", |f| f.no_access_cells.map(Figure::Count)),
    measure("no_access_km2", |f| f.no_access_km2.map(Figure::Measure)),
];

/// The columns added when demand weighed the cells.
const DEMAND_COLUMNS: [FigureColumn; 3] = [
    measure("demand", |f| f.demand.map(Figure::Measure)),
    measure("covered_demand", |f| f.covered_demand.map(Figure::Measure)),
    measure("covered_demand_share", |f| {
        f.covered_demand_share.map(Figure::Measure)
    }),
];

/// The figure columns of a result's rows (after `adcode` and `name`), in table order.
pub fn figure_columns(with_demand: bool, with_access: bool) -> Vec<FigureColumn> {
    let mut columns = AREA_COLUMNS.to_vec();
    if with_access {
        columns.extend(ACCESS_COLUMNS);
    }
    if with_demand {
        columns.extend(DEMAND_COLUMNS);
    }
    columns
}

/// The county table as CSV: `adcode,name,` then the figure columns; counties worst first,
/// then a `total` row. Names are neutralised against spreadsheet formulas (see [`CsvText`]).
pub fn counties_csv(r: &CoverageResult) -> Result<String, csv::Error> {
    table_csv(
        &r.counties_worst_first,
        &r.coverage.total,
        r.demand.is_some(),
        r.coverage.total.no_access_cells.is_some(),
    )
}

/// County rows in the given order, then the `total` row, as CSV.
fn table_csv(
    counties: &[Figures],
    total: &Figures,
    with_demand: bool,
    with_access: bool,
) -> Result<String, csv::Error> {
    let columns = figure_columns(with_demand, with_access);
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = ["adcode", "name"]
        .into_iter()
        .chain(columns.iter().map(|c| c.name));
    w.write_record(header)?;
    let row = |f: &Figures, code: String, name: String| -> Vec<String> {
        [code, name]
            .into_iter()
            .chain(
                columns
                    .iter()
                    .map(|c| (c.get)(f).map(|v| v.to_string()).unwrap_or_default()),
            )
            .collect()
    };
    for f in counties {
        let code = f.adcode.map(|c| c.to_string()).unwrap_or_default();
        // Region names come from imported files: never a formula in a spreadsheet.
        let name = CsvText::Neutralised.write(f.name.as_deref().unwrap_or(""));
        w.write_record(row(f, code, name.into_owned()))?;
    }
    w.write_record(row(total, "total".into(), String::new()))?;
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every field written was a Rust string: the bytes are UTF-8.
    String::from_utf8(bytes)
        .map_err(|e| csv::Error::from(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_print_as_the_numbers_they_hold() {
        assert_eq!(Figure::Count(42).to_string(), "42");
        assert_eq!(Figure::Measure(0.25).to_string(), "0.25");
        assert_eq!(Figure::Measure(3.0).to_string(), "3");
    }

    #[test]
    fn demand_columns_come_only_with_demand() {
        let names = |d| {
            figure_columns(d, false)
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(false).len(), 8);
        assert_eq!(
            names(true)[8..],
            ["demand", "covered_demand", "covered_demand_share"]
        );
        let f = Figures {
            demand: Some(2.5),
            ..Figures::default()
        };
        let cols = figure_columns(true, false);
        assert_eq!((cols[8].get)(&f), Some(Figure::Measure(2.5)));
        assert_eq!((cols[9].get)(&f), None);
        assert!(cols[0].is_count && !cols[2].is_count);
    }

    #[test]
    fn county_names_that_look_like_formulas_are_neutralised_and_figures_are_not() {
        let county = Figures {
            adcode: Some(crate::domain::Adcode::new(360102).expect("a valid adcode")),
            name: Some("=HYPERLINK(\"http://x\",\"东湖区\")".into()),
            cells: 3,
            covered_share: -0.0,
            ..Figures::default()
        };
        let text = table_csv(&[county], &Figures::default(), false, false).unwrap();
        let mut rows = csv::Reader::from_reader(text.as_bytes()).into_records();
        let first = rows.next().unwrap().unwrap();
        assert_eq!(&first[0], "360102");
        assert_eq!(&first[1], "'=HYPERLINK(\"http://x\",\"东湖区\")");
        assert_eq!(&first[2], "3");
        // A figure is a number, its sign kept.
        assert_eq!(&first[7], "-0");
        assert_eq!(&rows.next().unwrap().unwrap()[0], "total");
    }
}
