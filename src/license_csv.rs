//! The license list as CSV for spreadsheets (`licctl licenses list --csv`, the console's export):
//! one row per license, RFC 4180 quoting by the `csv` crate, and every cell guarded against
//! formula injection.
//!
//! Names, customer ids and order ids arrive in marketplace callbacks, so an attacker who buys a
//! license (or anyone who can reach a test callback) chooses them. A cell that starts with `=`,
//! `+`, `-` or `@` is a formula to Excel, LibreOffice and Google Sheets: `=HYPERLINK(…)` phishes
//! whoever opens the export, and DDE payloads once ran commands. Such a cell gets a leading `'`,
//! which the spreadsheet shows as text and hides (OWASP's "CSV injection" advice); so do cells
//! that start with a tab or a carriage return, which some importers strip before the formula
//! character, and the full-width forms `＝＋－＠` that East Asian input methods type and some
//! spreadsheet versions read as their ASCII twins.

use crate::admin_api::Summary;

/// The columns, in order: the header row.
pub const COLUMNS: [&str; 17] = [
    "id",
    "kind",
    "origin",
    "status",
    "test",
    "customer",
    "customer_name",
    "product",
    "sku",
    "edition",
    "order",
    "quantity",
    "revision",
    "valid_from",
    "expires",
    "created",
    "updated",
];

/// What a cell may not start with unguarded.
const FORMULA_STARTS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];

/// `text` as a spreadsheet will show it: a leading `'` when it would otherwise be a formula.
pub fn guard(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// A license's cells, in [`COLUMNS`] order, guarded. `expires` is empty for a perpetual license.
pub fn cells(s: &Summary) -> Vec<String> {
    let raw = [
        s.id.clone(),
        s.kind.as_str().to_string(),
        s.origin
            .clone()
            .unwrap_or_else(|| "marketplace".to_string()),
        s.status.as_str().to_string(),
        s.test.to_string(),
        s.customer.clone(),
        s.customer_name.clone().unwrap_or_default(),
        s.product.clone(),
        s.sku.clone(),
        s.edition.clone().unwrap_or_default(),
        s.order.clone(),
        s.quantity.to_string(),
        s.revision.to_string(),
        s.nbf.to_rfc3339(),
        s.exp.map(|t| t.to_rfc3339()).unwrap_or_default(),
        s.created.to_rfc3339(),
        s.updated.to_rfc3339(),
    ];
    raw.iter().map(|c| guard(c).into_owned()).collect()
}

/// Lines of CSV (each ending in CRLF, as RFC 4180 has it): the header when `header`, then a
/// row per license.
pub fn lines(licenses: &[Summary], header: bool) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail, and every row has the header's length.
    if header {
        let _ = w.write_record(COLUMNS);
    }
    for s in licenses {
        let _ = w.write_record(cells(s));
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::{Kind, Status};
    use client_verifier::Timestamp;

    fn summary(customer_name: &str) -> Summary {
        let t = Timestamp::from_unix(1_780_272_000);
        Summary {
            id: "CS-1".into(),
            kind: Kind::Classic,
            status: Status::Active,
            test: false,
            customer: "cust-1".into(),
            customer_name: Some(customer_name.into()),
            product: "OFFI1".into(),
            sku: "sku".into(),
            edition: None,
            order: "CS-1".into(),
            quantity: 2,
            revision: 1,
            nbf: t,
            exp: None,
            created: t,
            updated: t,
            origin: None,
        }
    }

    /// The cells of the one row `lines` wrote, read back as a spreadsheet would.
    fn read_back(name: &str) -> Vec<String> {
        let text = lines(&[summary(name)], true);
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), COLUMNS);
        let row = r.records().next().unwrap().unwrap();
        row.iter().map(str::to_string).collect()
    }

    #[test]
    fn a_cell_that_would_be_a_formula_is_text() {
        for name in [
            "=HYPERLINK(\"http://evil.example\",\"click\")",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(1,1)",
            "\t=1+1",
            "\r=1+1",
            "＝1+1",
            "＠SUM(1)",
        ] {
            assert_eq!(read_back(name)[6], format!("'{name}"), "{name:?}");
        }
    }

    #[test]
    fn ordinary_cells_are_as_they_were_and_quoting_survives_commas_quotes_and_newlines() {
        for name in [
            "Acme Tooling",
            "北京某某科技有限公司",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "1-2",
        ] {
            assert_eq!(read_back(name)[6], name, "{name:?}");
        }
        let row = read_back("x");
        assert_eq!(row[14], "", "a perpetual license has no expiry");
        assert_eq!(row[11], "2");
        assert_eq!(row[2], "marketplace");
        assert!(lines(&[], true).ends_with("updated\r\n"));
        assert_eq!(lines(&[], false), "");
    }
}
