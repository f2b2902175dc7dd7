//! Phone numbers in E.164, parsed from what people type.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Countries Dial offers by name, with their calling codes and national number lengths.
pub const COUNTRIES: &[(&str, &str, &str)] = &[
    ("US", "United States", "1"),
    ("CA", "Canada", "1"),
    ("GB", "United Kingdom", "44"),
    ("AU", "Australia", "61"),
    ("DE", "Germany", "49"),
    ("FR", "France", "33"),
    ("IE", "Ireland", "353"),
    ("NL", "Netherlands", "31"),
];

pub fn calling_code(country: &str) -> Option<&'static str> {
    COUNTRIES
        .iter()
        .find(|(iso, _, _)| iso.eq_ignore_ascii_case(country))
        .map(|(_, _, code)| *code)
}

/// A phone number in E.164: `+`, a country code and the national number, 8 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl TryFrom<String> for E164 {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        E164::parse(&s, None)
    }
}

impl From<E164> for String {
    fn from(n: E164) -> String {
        n.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const HINT: &str = "Enter the number with its country code, e.g. +1 415 555 0100, or choose a country and enter the national number.";

impl E164 {
    /// Accepts "+1 415 555 0100", "+1 (415) 555-0100", "00 44 20 7946 0000", and — with a
    /// country — national forms such as "(415) 555-0100" or "020 7946 0000".
    pub fn parse(input: &str, country: Option<&str>) -> Result<E164, String> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err("Enter a phone number.".into());
        }
        if trimmed
            .chars()
            .any(|c| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.')))
        {
            return Err(format!(
                "A phone number may contain only digits, spaces and + - ( ) . — {HINT}"
            ));
        }
        if trimmed.chars().skip(1).any(|c| c == '+') {
            return Err(format!("The + may only come first. {HINT}"));
        }
        let digits: String = trimmed.chars().filter(|c| c.is_ascii_digit()).collect();
        let international = if trimmed.starts_with('+') {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else {
            let Some(country) = country.filter(|c| !c.is_empty()) else {
                return Err(format!("This number has no country code. {HINT}"));
            };
            let Some(code) = calling_code(country) else {
                return Err(format!("Dial does not know the calling code of {country}. Enter the number with + and its country code."));
            };
            if code == "1" {
                match digits.len() {
                    10 => format!("1{digits}"),
                    11 if digits.starts_with('1') => digits,
                    _ => return Err(format!("A number in {country} has 10 digits after the country code, e.g. (415) 555-0100.")),
                }
            } else {
                format!("{code}{}", digits.strip_prefix('0').unwrap_or(&digits))
            }
        };
        if international.starts_with('0') {
            return Err(format!("A country code never starts with 0. {HINT}"));
        }
        if !(8..=15).contains(&international.len()) {
            return Err(format!(
                "An international number has 8 to 15 digits; this one has {}. {HINT}",
                international.len()
            ));
        }
        if let Some(national) = international.strip_prefix('1') {
            if national.len() != 10 || national.starts_with('0') || national.starts_with('1') {
                return Err("A North American number is +1 followed by 10 digits, and its area code does not start with 0 or 1.".into());
            }
        }
        Ok(E164(format!("+{international}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For people, by the number's own national rules: "+1 (415) 555-0100",
    /// "+44 20 7183 8750" (see `format_e164`).
    pub fn formatted(&self) -> String {
        format_e164(&self.0)
    }
}

/// Where a call is transferred to, parsed once into the form sent to LiveKit (SIP REFER):
/// a phone number, however it is typed (`+1 (415) 555-0100`, `tel:+14155550100`), becomes
/// `tel:+14155550100`; a `sip:user@host` URI is kept when it is printable ASCII without
/// spaces, quotes or angle brackets (it ends up in a SIP header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferTarget(String);

impl TransferTarget {
    pub fn parse(text: &str) -> Result<TransferTarget, String> {
        let t = text.trim();
        if let Some(rest) = t.strip_prefix("sip:") {
            let printable = t
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"<>\"'".contains(&b));
            let has_parts = rest
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && !host.is_empty());
            if has_parts && printable && t.len() <= 256 {
                return Ok(TransferTarget(t.to_string()));
            }
        } else {
            let number = t.strip_prefix("tel:").unwrap_or(t);
            if let Ok(number) = E164::parse(number, None) {
                return Ok(TransferTarget(format!("tel:{}", number.as_str())));
            }
        }
        Err("Transfer to a phone number in international format (+1 415 555 0100, or tel:+14155550100) or to sip:user@host.".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TransferTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Formats a stored E.164 string for display (unchanged when it is not E.164): each
/// country's numbers are grouped the way that country writes them ("+1 (415) 555-0100",
/// "+44 20 7183 8750", "+49 30 12345678", "+33 1 23 45 67 89"); a number of another
/// country, or of an unexpected length, gets its calling code and groups of 3 or 4.
///
/// A compact rule table rather than libphonenumber's metadata (the `phonenumber` crate),
/// which would ship its regular expressions and database to every browser: the rules
/// cover North America, the United Kingdom and the common European countries, after
/// libphonenumber's formats (`resources/PhoneNumberMetadata.xml`, `numberFormat`).
///
/// Total: the text may come from outside (a caller's SIP From user reaches Dial as
/// LiveKit's `sip.phoneNumber`), so anything that is not `+` and ASCII digits is returned
/// as it came, and nothing here slices inside a character.
pub fn format_e164(number: &str) -> String {
    let Some(digits) = number
        .strip_prefix('+')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    else {
        return number.to_string();
    };
    if let Some(n) = digits.strip_prefix('1').filter(|n| n.len() == 10) {
        return format!("+1 ({}) {}-{}", &n[..3], &n[3..6], &n[6..]);
    }
    let (code, national) = digits.split_at(calling_code_len(digits).min(digits.len()));
    if national.is_empty() {
        return format!("+{code}");
    }
    let groups = national_groups(code, national).unwrap_or_else(|| fallback_groups(national));
    format!("+{code} {}", split(national, &groups).join(" "))
}

/// The length of the calling code at the start of `digits`: the ITU-T E.164 assignments
/// have 1 (North America, Russia and Kazakhstan), 2 or 3 digits, and no code is a prefix
/// of another.
fn calling_code_len(digits: &str) -> usize {
    const TWO_DIGITS: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if TWO_DIGITS.iter().any(|code| digits.starts_with(code)) {
        2
    } else {
        3
    }
}

/// German area codes of three digits (after the trunk 0): most are `x[0-9]1`, and these.
const DE_THREE_DIGIT: &[&str] = &[
    "202", "203", "208", "209", "212", "214", "228", "234", "335", "340", "345", "355", "365",
    "375", "385", "395", "800", "900", "906",
];

/// Dutch area codes of two digits (after the trunk 0); the others have three.
const NL_TWO_DIGIT: &[&str] = &[
    "10", "13", "15", "20", "23", "24", "26", "30", "33", "35", "36", "38", "40", "43", "45", "46",
    "50", "53", "55", "58", "70", "71", "72", "73", "74", "75", "76", "77", "78", "79",
];

/// The group lengths of a national number by its country's rules; `None` when Dial has no
/// rule for the country or the number's length is not one the rules expect.
fn national_groups(code: &str, n: &str) -> Option<Vec<usize>> {
    let len = n.len();
    let starts = |p: &str| n.starts_with(p);
    let rest = |head: &[usize]| {
        let used: usize = head.iter().sum();
        (len > used).then(|| {
            let mut groups = head.to_vec();
            groups.push(len - used);
            groups
        })
    };
    let exact = |groups: &[usize]| (groups.iter().sum::<usize>() == len).then(|| groups.to_vec());
    match code {
        // United Kingdom: London and the other 2x cities 2-4-4, the 11x and 1x1 cities
        // 3-3-4, other geographic codes and mobiles 4-6, non-geographic 3-3-4.
        "44" if len == 10 => {
            let b = n.as_bytes();
            if starts("2") || starts("55") || starts("56") || starts("70") {
                exact(&[2, 4, 4])
            } else if starts("1") && (b[1] == b'1' || b[2] == b'1') {
                exact(&[3, 3, 4])
            } else if starts("1") || starts("7") {
                exact(&[4, 6])
            } else {
                exact(&[3, 3, 4])
            }
        }
        "44" if len == 9 => {
            if starts("1") {
                exact(&[4, 5])
            } else {
                exact(&[3, 6])
            }
        }
        // Germany: the area code (or mobile prefix), then the subscriber number unsplit.
        "49" if (6..=13).contains(&len) => {
            let b = n.as_bytes();
            if starts("15") {
                rest(&[4])
            } else if starts("16") || starts("17") {
                rest(&[3])
            } else if ["30", "40", "69", "89"].iter().any(|p| starts(p)) {
                rest(&[2])
            } else if (b[0] != b'1' && b[2] == b'1') || DE_THREE_DIGIT.iter().any(|p| starts(p)) {
                rest(&[3])
            } else {
                rest(&[4])
            }
        }
        // France: 1 23 45 67 89.
        "33" if len == 9 => exact(&[1, 2, 2, 2, 2]),
        // Ireland: Dublin 1 234 5678, freephone 1800 123 456, others 2-3-4.
        "353" if starts("1800") || starts("1850") || starts("1890") => exact(&[4, 3, 3]),
        "353" if starts("1") => exact(&[1, 3, 4]),
        "353" if (8..=9).contains(&len) => rest(&[2, 3]),
        // Netherlands: mobiles 6 12345678; two-digit area codes 20 123 4567; else 3-3-3.
        "31" if starts("800") || starts("900") => rest(&[3]),
        "31" if len == 9 && starts("6") => exact(&[1, 8]),
        "31" if len == 9 && NL_TWO_DIGIT.iter().any(|p| starts(p)) => exact(&[2, 3, 4]),
        "31" if len == 9 => exact(&[3, 3, 3]),
        // Australia: mobiles 412 345 678, landlines 2 1234 5678, 1300/1800 1300 123 456.
        "61" if len == 9 && (starts("4") || starts("5")) => exact(&[3, 3, 3]),
        "61" if len == 9 => exact(&[1, 4, 4]),
        "61" if len == 10 && starts("1") => exact(&[4, 3, 3]),
        // Spain: 612 34 56 78.
        "34" if len == 9 => exact(&[3, 2, 2, 2]),
        // Belgium: mobiles 470 12 34 56; Brussels, Antwerp, Liège, Ghent 2 123 45 67.
        "32" if len == 9 => exact(&[3, 2, 2, 2]),
        "32" if len == 8 && ["2", "3", "4", "9"].iter().any(|p| starts(p)) => exact(&[1, 3, 2, 2]),
        "32" if len == 8 => exact(&[2, 2, 2, 2]),
        // Switzerland: 44 668 18 00; 800 123 456.
        "41" if len == 9 && (starts("800") || starts("900")) => exact(&[3, 3, 3]),
        "41" if len == 9 => exact(&[2, 3, 2, 2]),
        // Denmark: 12 34 56 78. Norway: mobiles 412 34 567, others 21 23 45 67.
        "45" if len == 8 => exact(&[2, 2, 2, 2]),
        "47" if len == 8 && (starts("4") || starts("9")) => exact(&[3, 2, 3]),
        "47" if len == 8 => exact(&[2, 2, 2, 2]),
        // Portugal: 912 345 678. Poland: mobiles 512 345 678, landlines 12 345 67 89.
        "351" if len == 9 => exact(&[3, 3, 3]),
        "48" if len == 9 && ["5", "6", "7", "8"].iter().any(|p| starts(p)) => exact(&[3, 3, 3]),
        "48" if len == 9 => exact(&[2, 3, 2, 2]),
        _ => None,
    }
}

/// Groups of 4, ending with a group of 3 or 4 (never a lone digit).
fn fallback_groups(national: &str) -> Vec<usize> {
    let mut groups = Vec::new();
    let mut left = national.len();
    while left > 4 {
        let take = if left.is_multiple_of(4) || left > 7 {
            4
        } else {
            3
        };
        groups.push(take);
        left -= take;
    }
    if left > 0 {
        groups.push(left);
    }
    groups
}

/// `text` cut into groups of these lengths (ASCII digits only; extra text goes last).
fn split<'a>(text: &'a str, groups: &[usize]) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut rest = text;
    for &len in groups {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(len.min(rest.len()));
        parts.push(head);
        rest = tail;
    }
    if !rest.is_empty() {
        parts.push(rest);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn what_people_type() {
        let sf = "+14155550100";
        for input in [
            "+1 415 555 0100",
            "+1 (415) 555-0100",
            "+1.415.555.0100",
            "001 415 555 0100",
        ] {
            assert_eq!(E164::parse(input, None).unwrap().as_str(), sf, "{input}");
        }
        for input in ["(415) 555-0100", "415-555-0100", "1 415 555 0100"] {
            assert_eq!(
                E164::parse(input, Some("US")).unwrap().as_str(),
                sf,
                "{input}"
            );
        }
        assert_eq!(
            E164::parse("020 7946 0000", Some("GB")).unwrap().as_str(),
            "+442079460000"
        );
        assert_eq!(
            E164::parse("+44 20 7946 0000", Some("US"))
                .unwrap()
                .as_str(),
            "+442079460000"
        );
        assert!(E164::parse("(415) 555-0100", None)
            .unwrap_err()
            .contains("no country code"));
        assert!(E164::parse("", None).is_err());
        assert!(E164::parse("+1 415 555 010", None).is_err());
        assert!(E164::parse("+1 015 555 0100", None).is_err());
        assert!(E164::parse("+1 415 555 0100 ext 2", None)
            .unwrap_err()
            .contains("only digits"));
        assert!(E164::parse("+0 123 456 789", None).is_err());
        assert!(E164::parse("+123", None).is_err());
        assert!(E164::parse("1+415", None).is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_e164("+14155550100"), "+1 (415) 555-0100");
        let gb = format_e164("+442079460000");
        assert!(gb.starts_with("+44 "), "{gb}");
        assert_eq!(gb.replace(' ', ""), "+442079460000");
        assert_eq!(format_e164("alice"), "alice");
    }

    #[test]
    fn each_country_by_its_own_rules() {
        for (stored, shown) in [
            ("+14155550100", "+1 (415) 555-0100"),
            ("+14165550100", "+1 (416) 555-0100"),
            // United Kingdom (issue 18: it read "+44 2071 838 750").
            ("+442071838750", "+44 20 7183 8750"),
            ("+442079460000", "+44 20 7946 0000"),
            ("+441214960000", "+44 121 496 0000"),
            ("+441134960000", "+44 113 496 0000"),
            ("+441223456789", "+44 1223 456789"),
            ("+447700900123", "+44 7700 900123"),
            ("+448001234567", "+44 800 123 4567"),
            ("+44800123456", "+44 800 123456"),
            // Germany: area code, then the subscriber number.
            ("+493012345678", "+49 30 12345678"),
            ("+4922112345678", "+49 221 12345678"),
            ("+4962211234567", "+49 6221 1234567"),
            ("+4915123456789", "+49 1512 3456789"),
            ("+491701234567", "+49 170 1234567"),
            ("+33123456789", "+33 1 23 45 67 89"),
            ("+33612345678", "+33 6 12 34 56 78"),
            ("+35312345678", "+353 1 234 5678"),
            ("+353851234567", "+353 85 123 4567"),
            ("+31201234567", "+31 20 123 4567"),
            ("+31612345678", "+31 6 12345678"),
            ("+31591123456", "+31 591 123 456"),
            ("+61212345678", "+61 2 1234 5678"),
            ("+61412345678", "+61 412 345 678"),
            ("+34612345678", "+34 612 34 56 78"),
            ("+3222345678", "+32 2 234 56 78"),
            ("+41446681800", "+41 44 668 18 00"),
            ("+4512345678", "+45 12 34 56 78"),
            ("+351912345678", "+351 912 345 678"),
            ("+48512345678", "+48 512 345 678"),
            ("+48123456789", "+48 12 345 67 89"),
        ] {
            assert_eq!(format_e164(stored), shown, "{stored}");
        }
    }

    #[test]
    fn other_countries_and_lengths_get_their_calling_code_and_groups() {
        for (stored, shown) in [
            // Calling codes of 1, 2 and 3 digits, whatever Dial knows of the country.
            ("+79123456789", "+7 9123 456 789"),
            ("+819012345678", "+81 9012 345 678"),
            ("+8613812345678", "+86 1381 234 5678"),
            ("+97150123456", "+971 5012 3456"),
            ("+2348012345678", "+234 8012 345 678"),
            // A country Dial knows, but a length its rules do not expect.
            ("+4420718387", "+44 2071 8387"),
            ("+3312345", "+33 123 45"),
            ("+1415555010", "+1 4155 550 10"),
            ("+44", "+44"),
            ("+4", "+4"),
        ] {
            assert_eq!(format_e164(stored), shown, "{stored}");
        }
    }

    #[test]
    fn formatting_outside_text_never_panics() {
        for raw in [
            "+1٤١٥٥٥٥٠١٠٠",
            "+ü",
            "+",
            "+1",
            "+14155550100é",
            "+4420794600001234567890",
        ] {
            let shown = format_e164(raw);
            assert!(!shown.is_empty() || raw.is_empty());
        }
        assert_eq!(format_e164("+1٤١٥٥٥٥٠١٠٠"), "+1٤١٥٥٥٥٠١٠٠");
    }

    proptest! {
        /// Fuzz target: any text at all (the caller's SIP From user arrives unchecked) is
        /// formatted without a panic, and E.164 input keeps its digits in order.
        #[test]
        fn formatting_is_total(input in any::<String>()) {
            let shown = format_e164(&input);
            if input.starts_with('+') && input.len() > 1 && input[1..].bytes().all(|b| b.is_ascii_digit()) {
                let digits: String = shown.chars().filter(char::is_ascii_digit).collect();
                prop_assert_eq!(format!("+{digits}"), input);
            } else {
                prop_assert_eq!(shown, input);
            }
        }

        /// Any number of 8 to 15 digits, of any calling code, formats into a text that
        /// parses back to the same number (formatting never drops or reorders a digit).
        #[test]
        fn formatted_numbers_parse_back(digits in "[1-9][0-9]{7,14}") {
            let stored = format!("+{digits}");
            if let Ok(parsed) = E164::parse(&stored, None) {
                let shown = parsed.formatted();
                prop_assert_eq!(E164::parse(&shown, None), Ok(parsed), "{}", shown);
                prop_assert!(!shown.contains("  ") && !shown.ends_with(' '), "{}", shown);
            }
        }

        /// Fuzz target: parsing any text with any country never panics.
        #[test]
        fn parsing_is_total(input in any::<String>(), country in any::<String>()) {
            let _ = E164::parse(&input, Some(&country));
            let _ = E164::parse(&input, None);
        }

        /// Any North American number, however it is typed, parses to the same E.164.
        #[test]
        fn nanp_numbers_in_any_format(area in 200u32..1000, exchange in 200u32..1000, line in 0u32..10000, style in 0usize..5) {
            let expected = format!("+1{area}{exchange}{line:04}");
            let typed = match style {
                0 => format!("+1 {area} {exchange} {line:04}"),
                1 => format!("({area}) {exchange}-{line:04}"),
                2 => format!("{area}.{exchange}.{line:04}"),
                3 => format!("1-{area}-{exchange}-{line:04}"),
                _ => format!("001 {area} {exchange} {line:04}"),
            };
            let parsed = E164::parse(&typed, Some("US")).unwrap();
            prop_assert_eq!(parsed.as_str(), expected.as_str());
            // Formatting and parsing again gives the same number.
            prop_assert_eq!(E164::parse(&parsed.formatted(), None).unwrap(), parsed);
        }

        /// Whatever the input, parsing either fails or yields + and 8 to 15 digits.
        #[test]
        fn never_accepts_garbage(input in ".{0,24}", country in prop::sample::select(vec!["", "US", "GB", "FR", "ZZ"])) {
            if let Ok(n) = E164::parse(&input, Some(country)) {
                let digits = n.as_str().strip_prefix('+').unwrap();
                prop_assert!((8..=15).contains(&digits.len()));
                prop_assert!(digits.chars().all(|c| c.is_ascii_digit()));
            }
        }
    }
}
