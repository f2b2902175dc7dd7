//! Lists of phone numbers from CSV files: a campaign's contacts and the do-not-call list.
//!
//! A file is read once, record by record, by the `csv` crate (quoted fields, embedded
//! newlines, CRLF), and every row is judged before anything is stored: the caller gets the
//! good rows and each bad row's line with its problem in words, and chooses what to keep.
//! Accepted: UTF-8 with or without a byte-order mark, `,` or `;` between fields (whichever
//! the header line uses), a header row naming a phone column (`phone`, `number`,
//! `mobile`, …), optionally a name column, and any other columns, kept per row as
//! variables. Numbers are E.164 or national with the default country.
//!
//! Refused outright, with the reason: more than [`MAX_BYTES`] or [`MAX_ROWS`] rows, text
//! that is not UTF-8 (the line is named), no header, no phone column.

use crate::phone::E164;
use std::collections::{BTreeMap, HashMap};

/// The largest file read: 100,000 rows of a few hundred bytes each.
pub const MAX_BYTES: usize = 32 * 1024 * 1024;
/// The most rows a file may hold (after its header).
pub const MAX_ROWS: usize = 100_000;
/// The most rows' problems listed one by one; the rest are counted.
pub const MAX_LISTED_PROBLEMS: usize = 1_000;

/// Header names taken as the phone column (compared without case, spaces or `_`/`-`).
const PHONE_HEADERS: [&str; 8] = [
    "phone",
    "phonenumber",
    "number",
    "mobile",
    "tel",
    "telephone",
    "e164",
    "msisdn",
];
/// Header names taken as the contact's name.
const NAME_HEADERS: [&str; 3] = ["name", "fullname", "contactname"];

/// Why a whole file is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooLarge { bytes: usize },
    TooManyRows,
    NotUtf8 { line: u64 },
    Empty,
    NoPhoneColumn { columns: Vec<String> },
    DuplicateColumn { name: String },
    Unreadable { line: u64, reason: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooLarge { bytes } => write!(
                f,
                "The file is {:.1} MB; files up to {} MB are read. Split it and upload the parts.",
                *bytes as f64 / (1024.0 * 1024.0),
                MAX_BYTES / (1024 * 1024)
            ),
            Refusal::TooManyRows => write!(
                f,
                "The file has more than {MAX_ROWS} rows. Split it and upload the parts."
            ),
            Refusal::NotUtf8 { line } => write!(
                f,
                "Line {line} is not UTF-8 text. Save the file as \u{201c}CSV UTF-8\u{201d} and upload it again."
            ),
            Refusal::Empty => write!(f, "The file is empty: it needs a header row and at least one row."),
            Refusal::NoPhoneColumn { columns } => write!(
                f,
                "No phone column: name one column \u{201c}phone\u{201d}. The header row has: {}.",
                if columns.is_empty() {
                    "no names".to_string()
                } else {
                    columns.join(", ")
                }
            ),
            Refusal::DuplicateColumn { name } => write!(
                f,
                "The header row names \u{201c}{name}\u{201d} twice; give each column its own name."
            ),
            Refusal::Unreadable { line, reason } => {
                write!(f, "Line {line} cannot be read as CSV: {reason}.")
            }
        }
    }
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoNumber,
    InvalidNumber(String),
    /// The same number appeared earlier in the file, at this line.
    Duplicate {
        first_line: u64,
    },
    /// The caller's own list says no (the do-not-call list, already in the campaign).
    Excluded(String),
    TooManyFields {
        fields: usize,
        columns: usize,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NoNumber => write!(f, "no phone number"),
            // The number's own first sentence; the advice after it is for a form field.
            Problem::InvalidNumber(why) => {
                let first = why.split(" \u{2014} ").next().unwrap_or(why);
                write!(f, "{}", first.trim_end())
            }
            Problem::Duplicate { first_line } => {
                write!(f, "the same number as line {first_line}")
            }
            Problem::Excluded(why) => write!(f, "{why}"),
            Problem::TooManyFields { fields, columns } => {
                write!(f, "{fields} fields, but the header names {columns} columns")
            }
        }
    }
}

/// A row that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The file's line the row starts on (1 is the header).
    pub line: u64,
    /// The phone field as written (empty when there is none).
    pub value: String,
    pub problem: Problem,
}

/// A good row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub line: u64,
    pub phone: E164,
    pub name: Option<String>,
    /// Every other column, by its header name.
    pub variables: BTreeMap<String, String>,
}

/// A file read and judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub separator: u8,
    pub columns: Vec<String>,
    pub phone_column: String,
    pub name_column: Option<String>,
    pub contacts: Vec<Contact>,
    /// The first [`MAX_LISTED_PROBLEMS`] bad rows.
    pub problems: Vec<RowProblem>,
    /// All bad rows, listed or not.
    pub bad_rows: usize,
}

impl Parsed {
    pub fn good_rows(&self) -> usize {
        self.contacts.len()
    }
}

fn header_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `,` or `;`: whichever the header line holds more of, outside quotes (`,` on a tie).
fn separator_of(text: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0usize, 0usize, false);
    for &b in text {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        b';'
    } else {
        b','
    }
}

/// Reads `bytes` as a list of phone numbers (national numbers in `country`, an ISO code),
/// with `exclude` saying why a number may not be on it (`None`: it may).
pub fn parse(
    bytes: &[u8],
    country: Option<&str>,
    exclude: impl Fn(&E164) -> Option<String>,
) -> Result<Parsed, Refusal> {
    if bytes.len() > MAX_BYTES {
        return Err(Refusal::TooLarge { bytes: bytes.len() });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::Empty);
    }
    let separator = separator_of(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let unreadable = |e: csv::Error| Refusal::Unreadable {
        line: e.position().map_or(0, csv::Position::line),
        reason: match e.kind() {
            csv::ErrorKind::UnequalLengths { .. } => "its fields do not line up".into(),
            csv::ErrorKind::Utf8 { .. } => "it is not UTF-8".into(),
            _ => "the quotes do not pair up".into(),
        },
    };
    let header = match records.next() {
        None => return Err(Refusal::Empty),
        Some(header) => header.map_err(unreadable)?,
    };
    let text = |record: &csv::ByteRecord, line: u64| -> Result<Vec<String>, Refusal> {
        record
            .iter()
            .map(|field| {
                std::str::from_utf8(field)
                    .map(|s| s.trim().to_string())
                    .map_err(|_| Refusal::NotUtf8 { line })
            })
            .collect()
    };
    let columns = text(&header, 1)?;
    let mut seen = std::collections::HashSet::new();
    for name in &columns {
        if !name.is_empty() && !seen.insert(header_key(name)) {
            return Err(Refusal::DuplicateColumn { name: name.clone() });
        }
    }
    let find = |names: &[&str]| {
        columns
            .iter()
            .position(|c| names.contains(&header_key(c).as_str()))
    };
    let Some(phone_at) = find(&PHONE_HEADERS) else {
        return Err(Refusal::NoPhoneColumn {
            columns: columns.iter().filter(|c| !c.is_empty()).cloned().collect(),
        });
    };
    let name_at = find(&NAME_HEADERS);

    let mut parsed = Parsed {
        separator,
        phone_column: columns[phone_at].clone(),
        name_column: name_at.map(|i| columns[i].clone()),
        columns: columns.clone(),
        contacts: Vec::new(),
        problems: Vec::new(),
        bad_rows: 0,
    };
    let mut first_seen: HashMap<String, u64> = HashMap::new();
    let mut rows = 0usize;
    // The file's line a record starts on, as an editor numbers them: the reader counts
    // only the line breaks between records, not those inside quoted fields.
    let (mut line, mut counted_to) = (1u64, 0usize);
    for record in records {
        let record = record.map_err(unreadable)?;
        let mut start = record
            .position()
            .map_or(counted_to, |p| p.byte() as usize)
            .clamp(counted_to, bytes.len());
        // After a CRLF the reader's position is at its LF; blank lines are skipped too.
        while matches!(bytes.get(start), Some(b'\n' | b'\r')) {
            start += 1;
        }
        line += bytes[counted_to..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        counted_to = start;
        let fields = text(&record, line)?;
        if fields.iter().all(String::is_empty) {
            continue;
        }
        rows += 1;
        if rows > MAX_ROWS {
            return Err(Refusal::TooManyRows);
        }
        let value = fields.get(phone_at).cloned().unwrap_or_default();
        let problem = if fields.len() > columns.len() {
            Some(Problem::TooManyFields {
                fields: fields.len(),
                columns: columns.len(),
            })
        } else if value.is_empty() {
            Some(Problem::NoNumber)
        } else {
            match E164::parse(&value, country) {
                Err(why) => Some(Problem::InvalidNumber(why)),
                Ok(phone) => match first_seen.get(phone.as_str()) {
                    Some(first_line) => Some(Problem::Duplicate {
                        first_line: *first_line,
                    }),
                    None => {
                        first_seen.insert(phone.as_str().to_string(), line);
                        match exclude(&phone) {
                            Some(why) => Some(Problem::Excluded(why)),
                            None => {
                                let variables = columns
                                    .iter()
                                    .zip(fields.iter())
                                    .enumerate()
                                    .filter(|(i, (name, _))| {
                                        *i != phone_at && Some(*i) != name_at && !name.is_empty()
                                    })
                                    .map(|(_, (name, value))| (name.clone(), value.clone()))
                                    .collect();
                                parsed.contacts.push(Contact {
                                    line,
                                    phone,
                                    name: name_at
                                        .and_then(|i| fields.get(i))
                                        .filter(|n| !n.is_empty())
                                        .cloned(),
                                    variables,
                                });
                                None
                            }
                        }
                    }
                },
            }
        };
        if let Some(problem) = problem {
            parsed.bad_rows += 1;
            if parsed.problems.len() < MAX_LISTED_PROBLEMS {
                parsed.problems.push(RowProblem {
                    line,
                    value,
                    problem,
                });
            }
        }
    }
    if rows == 0 {
        return Err(Refusal::Empty);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nothing_excluded(_: &E164) -> Option<String> {
        None
    }

    fn phones(parsed: &Parsed) -> Vec<&str> {
        parsed.contacts.iter().map(|c| c.phone.as_str()).collect()
    }

    #[test]
    fn a_plain_file_gives_contacts_with_names_and_variables() {
        let csv = "Name,Phone,Appointment\nAda,+14155550100,Tuesday 10:00\nBob,(415) 555-0101,\n";
        let parsed = parse(csv.as_bytes(), Some("US"), nothing_excluded).unwrap();
        assert_eq!(parsed.separator, b',');
        assert_eq!(parsed.phone_column, "Phone");
        assert_eq!(phones(&parsed), ["+14155550100", "+14155550101"]);
        assert_eq!(parsed.contacts[0].name.as_deref(), Some("Ada"));
        assert_eq!(
            parsed.contacts[0]
                .variables
                .get("Appointment")
                .map(String::as_str),
            Some("Tuesday 10:00")
        );
        assert_eq!(parsed.contacts[1].line, 3);
        assert!(parsed.problems.is_empty());
    }

    #[test]
    fn bom_semicolons_crlf_and_quoted_newlines_are_read() {
        let csv = "\u{feff}phone;note\r\n+14155550100;\"two\r\nlines; and a separator\"\r\n+14155550101;x\r\n";
        let parsed = parse(csv.as_bytes(), None, nothing_excluded).unwrap();
        assert_eq!(parsed.separator, b';');
        assert_eq!(phones(&parsed), ["+14155550100", "+14155550101"]);
        assert_eq!(
            parsed.contacts[0].variables["note"],
            "two\r\nlines; and a separator"
        );
        assert_eq!(parsed.contacts[1].line, 4, "the quoted newline counts");
    }

    #[test]
    fn each_bad_row_is_named_with_its_line() {
        let csv = "phone,name\n+14155550100,A\nnot a number,B\n,C\n+1 415 555 0100,D\n+14155550102,E,extra\n+14155550103,F\n";
        let parsed = parse(csv.as_bytes(), None, |p| {
            (p.as_str() == "+14155550103").then(|| "on the do-not-call list".to_string())
        })
        .unwrap();
        assert_eq!(phones(&parsed), ["+14155550100"]);
        let listed: Vec<(u64, String)> = parsed
            .problems
            .iter()
            .map(|p| (p.line, p.problem.to_string()))
            .collect();
        assert_eq!(listed.len(), 5, "{listed:?}");
        assert_eq!(listed[0].0, 3);
        assert_eq!(listed[1], (4, "no phone number".to_string()));
        assert_eq!(listed[2], (5, "the same number as line 2".to_string()));
        assert_eq!(
            listed[3],
            (6, "3 fields, but the header names 2 columns".to_string())
        );
        assert_eq!(listed[4], (7, "on the do-not-call list".to_string()));
        assert_eq!(parsed.bad_rows, 5);
    }

    #[test]
    fn whole_files_are_refused_with_the_reason() {
        let refused = |bytes: &[u8]| {
            parse(bytes, None, nothing_excluded)
                .unwrap_err()
                .to_string()
        };
        assert!(refused(b"").contains("empty"));
        assert!(refused(b"phone\n").contains("empty"));
        assert!(refused(b"name,email\nAda,a@example.com\n").contains("No phone column"));
        assert!(refused(b"phone,Phone\n+14155550100,x\n").contains("twice"));
        assert_eq!(
            parse(b"phone\n+14155550100\n\xff\xfe\n", None, nothing_excluded),
            Err(Refusal::NotUtf8 { line: 3 })
        );
        let big = vec![b' '; MAX_BYTES + 1];
        assert!(refused(&big).contains("MB"));
        let mut many = String::from("phone\n");
        for i in 0..=MAX_ROWS {
            many.push_str(&format!("+1415{:07}\n", i));
        }
        assert_eq!(
            parse(many.as_bytes(), None, nothing_excluded),
            Err(Refusal::TooManyRows)
        );
    }

    /// A CSV field as a spreadsheet writes it: quoted when it holds the separator, a
    /// quote or a line break.
    fn field(value: &str, separator: char) -> String {
        if value.contains(separator) || value.contains('"') || value.contains('\n') {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value.to_string()
        }
    }

    proptest! {
        /// Any file a spreadsheet could write (either separator, BOM or not, CRLF or LF,
        /// notes with quotes, separators and newlines) gives back exactly its rows.
        #[test]
        fn written_files_read_back(
            numbers in proptest::collection::btree_set(0u32..10_000_000, 1..40),
            notes in proptest::collection::vec("[a-z ,;\"\n]{0,12}", 40),
            semicolon in any::<bool>(),
            bom in any::<bool>(),
            crlf in any::<bool>(),
        ) {
            let sep = if semicolon { ';' } else { ',' };
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut csv = String::new();
            if bom { csv.push('\u{feff}'); }
            csv.push_str(&format!("note{sep}phone{eol}"));
            let numbers: Vec<String> = numbers.iter().map(|n| format!("+1415{n:07}")).collect();
            let mut lines = Vec::new();
            let mut line = 2u64;
            for (n, note) in numbers.iter().zip(notes.iter()) {
                let note = field(note, sep);
                lines.push(line);
                line += 1 + note.matches('\n').count() as u64;
                csv.push_str(&format!("{note}{sep}{n}{eol}"));
            }
            let parsed = parse(csv.as_bytes(), None, nothing_excluded).unwrap();
            prop_assert_eq!(parsed.separator, sep as u8);
            prop_assert_eq!(phones(&parsed), numbers.iter().map(String::as_str).collect::<Vec<_>>());
            for ((contact, note), line) in parsed.contacts.iter().zip(notes.iter()).zip(lines) {
                prop_assert_eq!(contact.variables["note"].as_str(), note.trim());
                prop_assert_eq!(contact.line, line, "the line an editor shows");
            }
        }

        /// Whatever the bytes, reading never panics: a list or a refusal.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes, Some("US"), nothing_excluded);
        }
    }
}
