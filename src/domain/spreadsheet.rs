//! Text cells of CSV files that spreadsheets open: a cell starting with `=`, `+`, `-`, `@`, tab
//! or carriage return is run as a formula by Excel, WPS and LibreOffice (CSV injection, see
//! OWASP). Neutralised files carry such cells behind a leading `'`, which those programs show
//! as text; reading a neutralised file takes the quote off again.
//!
//! The quote is added exactly when a cell, after any quotes it already starts with, begins
//! with a trigger (`=1` → `'=1`, `'=1` → `''=1`, `'abc` unchanged), so reading undoes writing
//! for every text, including text that really begins with `'` and a trigger.

use std::borrow::Cow;

/// What makes a spreadsheet read a cell as a formula when the cell starts with it.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// How the text cells of a CSV file are written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvText {
    /// Cells a spreadsheet would run carry a leading `'` (the default, safe to open).
    #[default]
    Neutralised,
    /// Cells byte for byte as stored (for tools that are not spreadsheets).
    Raw,
}

/// Whether `text`, past the quotes it starts with, begins with a formula trigger.
fn quoted_trigger(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(TRIGGERS)
}

impl CsvText {
    /// The cell to write for a text value.
    pub fn write(self, text: &str) -> Cow<'_, str> {
        match self {
            CsvText::Neutralised if quoted_trigger(text) => Cow::Owned(format!("'{text}")),
            _ => Cow::Borrowed(text),
        }
    }

    /// The text value a cell read from a file stands for (undoes [`Self::write`]).
    pub fn read(self, cell: &str) -> &str {
        match self {
            CsvText::Neutralised if cell.starts_with('\'') && quoted_trigger(cell) => &cell[1..],
            _ => cell,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formulas_get_a_quote_and_plain_text_does_not() {
        let n = CsvText::Neutralised;
        assert_eq!(
            n.write("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(n.write("+86 791 8888"), "'+86 791 8888");
        assert_eq!(n.write("-3"), "'-3");
        assert_eq!(n.write("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(n.write("\tx"), "'\tx");
        assert_eq!(n.write("\rx"), "'\rx");
        assert_eq!(n.write("'=1"), "''=1");
        assert_eq!(n.write("'abc"), "'abc");
        assert_eq!(n.write("青山湖驿站"), "青山湖驿站");
        assert_eq!(n.write("a=1"), "a=1");
        assert_eq!(n.write(""), "");
        assert_eq!(CsvText::Raw.write("=1"), "=1");
    }

    #[test]
    fn reading_takes_one_quote_off_a_neutralised_formula_only() {
        let n = CsvText::Neutralised;
        assert_eq!(n.read("'=1"), "=1");
        assert_eq!(n.read("''=1"), "'=1");
        assert_eq!(n.read("'abc"), "'abc");
        assert_eq!(n.read("=1"), "=1");
        assert_eq!(n.read("'"), "'");
        assert_eq!(CsvText::Raw.read("'=1"), "'=1");
    }

    fn texts() -> impl Strategy<Value = String> {
        // Mostly the characters that matter, some of anything.
        prop_oneof![
            proptest::string::string_regex("['=+@\\t\\r a-]{0,6}").expect("a regex"),
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn reading_undoes_writing_in_both_modes(text in texts()) {
            for mode in [CsvText::Neutralised, CsvText::Raw] {
                let cell = mode.write(&text);
                prop_assert_eq!(mode.read(&cell), text.as_str());
            }
        }

        #[test]
        fn no_neutralised_cell_starts_a_formula(text in texts()) {
            let cell = CsvText::Neutralised.write(&text);
            prop_assert!(!cell.starts_with(TRIGGERS), "{:?}", cell);
        }
    }
}
