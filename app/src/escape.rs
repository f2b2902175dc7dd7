//! Escaping text for markup (HTML, SVG, XML such as TwiML): the one escaper every page and
//! server answer uses when it writes markup by hand.

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by entities, safe inside an element or
/// a quoted attribute.
pub fn markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A spreadsheet cell's text that a spreadsheet will not run as a formula: text starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP, "CSV
/// Injection"). The CSV writer quotes it as needed.
pub fn csv_cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{csv_cell, markup};

    #[test]
    fn formulas_are_not_left_for_a_spreadsheet_to_run() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(csv_cell(""), "");
    }
    use proptest::prelude::*;

    #[test]
    fn every_special_character_becomes_an_entity() {
        assert_eq!(
            markup(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
    }

    proptest! {
        /// Fuzz target: no input leaves a markup character behind.
        #[test]
        fn nothing_special_survives(text in any::<String>()) {
            let out = markup(&text);
            prop_assert!(!out.contains(['<', '>', '"', '\'']));
        }
    }
}
