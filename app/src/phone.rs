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

    /// For people: "+1 (415) 555-0100", or "+44 20 7946 0000"-style groups elsewhere.
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

/// Formats a stored E.164 string for display (unchanged when it is not E.164).
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
    let code_len = COUNTRIES
        .iter()
        .map(|(_, _, code)| *code)
        .filter(|code| digits.starts_with(code))
        .map(str::len)
        .max()
        .unwrap_or(2);
    let (code, rest) = digits.split_at(code_len.min(digits.len()));
    let mut groups = Vec::new();
    let mut rest = rest;
    while rest.len() > 4 {
        let take = if rest.len() % 4 == 0 || rest.len() > 7 {
            4
        } else {
            3
        };
        let (head, tail) = rest.split_at(take.min(rest.len()));
        groups.push(head);
        rest = tail;
    }
    if !rest.is_empty() {
        groups.push(rest);
    }
    format!("+{code} {}", groups.join(" "))
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
