use std::io::Read;

use tmc_export::COLUMNS;
use tmc_export::csv::to_csv;
use tmc_export::xlsx::to_xlsx;

use crate::common;

fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn csv_quotes_commas_quotes_and_newlines() {
    let model = common::model("hostile");
    let draft = common::hostile_draft();
    let text = to_csv(&model, &draft).unwrap();
    // RFC 4180: CRLF records, embedded quotes doubled inside a quoted field.
    assert!(text.starts_with("ID,Title,Description,STRIDE,"));
    assert!(text.contains("\r\n"));
    assert!(text.contains("\"Cross-site scripting, \"\"stored\"\" in Web\""));
    let rows = read_csv(&text);
    assert_eq!(rows.len(), draft.threats.len() + 1);
    assert_eq!(rows[0], COLUMNS);
    assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
    assert_eq!(rows[1][1], "Cross-site scripting, \"stored\" in Web");
    assert_eq!(
        rows[1][2],
        "A comment with a comma, a \"quote\"\nand a newline."
    );
    assert_eq!(rows[1][3], "Tampering, Information disclosure");
    assert_eq!(rows[1][4], "high");
    assert_eq!(rows[1][9], "CWE-79");
    assert_eq!(rows[1][10], "CAPEC-63");
    assert_eq!(rows[1][11], "A03");
    assert_eq!(rows[1][12], "A05");
    assert_eq!(rows[1][13], "Encode output, \"always\" [implemented]");
    assert_eq!(rows[1][14], "draft");
    assert_eq!(rows[1][15], "rule TMC-TEST-001");
    assert_eq!(rows[4][2], "Line one\nline two, with \"quotes\"");
    assert_eq!(rows[4][15], "import otm:t1");
}

#[test]
fn csv_neutralises_formulas() {
    let model = common::model("hostile");
    let draft = common::hostile_draft();
    let rows = read_csv(&to_csv(&model, &draft).unwrap());
    assert_eq!(rows[2][1], "'=HYPERLINK(\"http://x\",\"click\")");
    assert_eq!(rows[2][2], "'-2+3");
    assert_eq!(rows[3][1], "'@SUM(A1:A9) looks like a formula");
    assert_eq!(rows[3][2], "'+1 and -1 too");
    // Ordinary text is untouched.
    assert_eq!(rows[3][14], "mitigated");
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula-like cell {cell:?}"
            );
        }
    }
}

#[test]
fn csv_of_an_example_has_a_row_per_threat() {
    let model = common::model("rag-chatbot");
    let draft = common::draft("rag-chatbot");
    let rows = read_csv(&to_csv(&model, &draft).unwrap());
    assert_eq!(rows.len(), draft.threats.len() + 1);
    for (row, t) in rows[1..].iter().zip(&draft.threats) {
        assert_eq!(row[0], t.id);
    }
}

fn zip_entry(bytes: &[u8], name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut f = z.by_name(name).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn xlsx_has_threats_and_summary_sheets() {
    let model = common::model("hostile");
    let draft = common::hostile_draft();
    let bytes = to_xlsx(&model, &draft).unwrap();
    assert!(bytes.starts_with(b"PK"), "not a zip");
    let workbook = zip_entry(&bytes, "xl/workbook.xml");
    assert!(workbook.contains("name=\"Threats\""));
    assert!(workbook.contains("name=\"Summary\""));
    let sheet = zip_entry(&bytes, "xl/worksheets/sheet1.xml");
    let cells = sheet.matches("<c ").count();
    assert_eq!(cells, (draft.threats.len() + 1) * COLUMNS.len());
    assert!(sheet.contains("<autoFilter ref=\"A1:W5\""), "{sheet}");
    assert!(sheet.contains("ySplit=\"1\""));
    assert!(sheet.contains("state=\"frozen\""));
    let strings = zip_entry(&bytes, "xl/sharedStrings.xml");
    for h in COLUMNS {
        assert!(strings.contains(&format!(">{h}<")), "header {h} missing");
    }
    // Strings are kept verbatim (XML-escaped), no apostrophe: XLSX cells are never formulas.
    assert!(
        strings.contains(">=HYPERLINK(\"http://x\",\"click\")<"),
        "{strings}"
    );
    assert!(!strings.contains("'=HYPERLINK"));
    assert!(!sheet.contains("<f>"));
    let styles = zip_entry(&bytes, "xl/styles.xml");
    assert!(styles.contains("<b/>"), "no bold font for the header");
    let summary = zip_entry(&bytes, "xl/worksheets/sheet2.xml");
    assert!(summary.contains("<c "));
    assert!(strings.contains(">Severity<") && strings.contains(">STRIDE category<"));
}

#[test]
fn xlsx_of_an_example() {
    let model = common::model("cicd-platform");
    let draft = common::draft("cicd-platform");
    let bytes = to_xlsx(&model, &draft).unwrap();
    let sheet = zip_entry(&bytes, "xl/worksheets/sheet1.xml");
    assert_eq!(
        sheet.matches("<c ").count(),
        (draft.threats.len() + 1) * COLUMNS.len()
    );
}
