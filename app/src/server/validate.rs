//! Parsers for what people type into Dial's forms. Each returns the normalised value or
//! a message that says what is wrong and how to fix it. Past these, code never
//! re-checks a string.

use crate::{error::FieldError, server::twilio::AccountSid};
use dial_sip::{SipHost, SipHostError};

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// Login names: 3–32 characters, lower-case letters, digits, `.`, `_`, `-`.
pub fn username(field: &str, input: &str) -> Result<String, FieldError> {
    let name = input.trim().to_lowercase();
    if name.len() < 3 || name.len() > 32 {
        return Err(err(field, "Username must be 3 to 32 characters long."));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        return Err(err(
            field,
            "Username may contain only letters, digits, dots, dashes and underscores.",
        ));
    }
    Ok(name)
}

pub const MIN_PASSWORD: usize = 10;

/// Login passwords: at least 10 characters (no other composition rules), at most 256.
pub fn new_password(field: &str, password: &str, confirm: Option<&str>) -> Result<(), FieldError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD {
        return Err(err(
            field,
            format!("Password must be at least {MIN_PASSWORD} characters long."),
        ));
    }
    if length > 256 {
        return Err(err(field, "Password must be at most 256 characters long."));
    }
    if let Some(confirm) = confirm {
        if confirm != password {
            return Err(err(
                "password_confirm",
                "The two passwords do not match. Type the same password twice.",
            ));
        }
    }
    Ok(())
}

/// Twilio Account SID: `AC` followed by 32 hexadecimal digits.
pub fn account_sid(field: &str, input: &str) -> Result<AccountSid, FieldError> {
    AccountSid::parse(input).ok_or_else(|| {
        err(
            field,
            "Account SID must be \"AC\" followed by 32 hexadecimal characters (0-9, a-f), as shown in the Twilio console.",
        )
    })
}

/// Twilio Auth Token: 32 hexadecimal digits.
pub fn auth_token(field: &str, input: &str) -> Result<String, FieldError> {
    let token = input.trim();
    if token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(token.to_string())
    } else {
        Err(err(
            field,
            "Auth Token must be the 32 hexadecimal characters shown in the Twilio console.",
        ))
    }
}

/// A SIP host name as Twilio and LiveKit expect it (see [`SipHost`]), with a message
/// that says how to fix the field.
pub fn sip_host(field: &str, input: &str) -> Result<SipHost, FieldError> {
    SipHost::parse(input).map_err(|e| {
        err(
            field,
            match e {
                SipHostError::Scheme => "Enter the host name only, without \"sip:\" — for example abc123.pstn.twilio.com.",
                SipHostError::NotJustAHost => "Enter a host name only (no user, port, path or parameters) — for example abc123.pstn.twilio.com.",
                SipHostError::Invalid => "This is not a valid host name. Use letters, digits, dashes and dots — for example abc123.pstn.twilio.com.",
            },
        )
    })
}

/// The user name of the SIP credential Twilio uses on the trunk (≤ 32 characters).
pub fn sip_username(field: &str, input: &str) -> Result<String, FieldError> {
    let name = input.trim();
    if name.is_empty() || name.len() > 32 {
        return Err(err(field, "SIP username must be 1 to 32 characters long."));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@'))
    {
        return Err(err(
            field,
            "SIP username may contain only letters, digits and . _ - + @.",
        ));
    }
    Ok(name.to_string())
}

/// Twilio's credential password rules: at least 12 characters, with an upper-case
/// letter, a lower-case letter and a digit.
pub fn sip_password(field: &str, input: &str) -> Result<String, FieldError> {
    let ok = input.chars().count() >= 12
        && input.chars().any(|c| c.is_ascii_uppercase())
        && input.chars().any(|c| c.is_ascii_lowercase())
        && input.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(input.to_string())
    } else {
        Err(err(
            field,
            "SIP password must be at least 12 characters and contain an upper-case letter, a lower-case letter and a digit (Twilio's rule).",
        ))
    }
}

/// The public base URL Twilio and LiveKit reach Dial at: https, or http for localhost.
/// Returned without a trailing slash.
pub fn public_url(field: &str, input: &str) -> Result<String, FieldError> {
    let text = input.trim();
    let parsed = url::Url::parse(text)
        .map_err(|_| err(field, "Enter a full URL such as https://dial.example.com."))?;
    let host = parsed.host_str().unwrap_or("");
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1");
    match parsed.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => return Err(err(
            field,
            "The webhook base URL must use https:// (plain http:// is allowed only for localhost).",
        )),
        _ => return Err(err(field, "The webhook base URL must start with https://.")),
    }
    if host.is_empty() {
        return Err(err(field, "The URL has no host name."));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(err(
            field,
            "The webhook base URL must not contain a query, a fragment or credentials.",
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Validator = fn(&str, &str) -> Result<String, FieldError>;

    proptest! {
        /// Fuzz target: every validator of typed-in text (SIP hosts and credentials, SIDs,
        /// tokens, URLs, numbers, user names) decides any input without a panic, and what
        /// it accepts has no control character.
        #[test]
        fn validators_are_total(input in any::<String>()) {
            let names: [Validator; 5] = [
                username,
                |f, text| account_sid(f, text).map(|sid| sid.to_string()),
                |f, text| sip_host(f, text).map(|host| host.to_string()),
                sip_username,
                public_url,
            ];
            for check in names {
                if let Ok(value) = check("f", &input) {
                    prop_assert!(!value.chars().any(char::is_control), "{:?}", value);
                }
            }
            // Secrets may hold any character; they only have to be decided.
            let _ = auth_token("f", &input);
            let _ = sip_password("f", &input);
            let _ = new_password("f", &input, Some(&input));
        }
    }

    #[test]
    fn account_sid_needs_ac_and_32_hex() {
        let good = format!("AC{}", "a1".repeat(16));
        assert_eq!(
            account_sid("f", &format!(" {good} ")).unwrap().as_str(),
            good
        );
        assert!(account_sid("f", &format!("AB{}", "a1".repeat(16))).is_err());
        assert!(account_sid("f", &format!("AC{}", "g1".repeat(16))).is_err());
        assert!(account_sid("f", "AC123").is_err());
        let e = account_sid("account_sid", "nope").unwrap_err();
        assert_eq!(e.field, "account_sid");
        assert!(e.message.contains("32 hexadecimal"));
    }

    #[test]
    fn sip_host_rejects_uris_and_accepts_host_names() {
        assert_eq!(
            sip_host("f", "ABC123.pstn.twilio.com").unwrap().as_str(),
            "abc123.pstn.twilio.com"
        );
        assert!(sip_host("f", "sip:abc.pstn.twilio.com")
            .unwrap_err()
            .message
            .contains("without \"sip:\""));
        assert!(sip_host("f", "sips:abc.pstn.twilio.com").is_err());
        assert!(sip_host("f", "user@abc.pstn.twilio.com").is_err());
        assert!(sip_host("f", "abc.pstn.twilio.com:5060").is_err());
        assert!(sip_host("f", "abc.pstn.twilio.com;transport=tcp").is_err());
        assert!(sip_host("f", "localhost").is_err());
        assert!(sip_host("f", "-bad.example.com").is_err());
        assert!(sip_host("f", "").is_err());
    }

    #[test]
    fn public_url_wants_https_except_localhost() {
        assert_eq!(
            public_url("f", "https://dial.example.com/").unwrap(),
            "https://dial.example.com"
        );
        assert_eq!(
            public_url("f", "https://x.example.com/dial").unwrap(),
            "https://x.example.com/dial"
        );
        assert_eq!(
            public_url("f", "http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(
            public_url("f", "http://127.0.0.1:3000/").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert!(public_url("f", "http://dial.example.com")
            .unwrap_err()
            .message
            .contains("https://"));
        assert!(public_url("f", "ftp://dial.example.com").is_err());
        assert!(public_url("f", "dial.example.com").is_err());
        assert!(public_url("f", "https://dial.example.com/?a=1").is_err());
    }

    #[test]
    fn usernames_and_passwords() {
        assert_eq!(username("f", " Alice ").unwrap(), "alice");
        assert!(username("f", "al").is_err());
        assert!(username("f", "al ice").is_err());
        assert!(new_password("f", "short", None).is_err());
        assert!(new_password("f", "long enough pw", Some("long enough pw")).is_ok());
        assert_eq!(
            new_password("password", "long enough pw", Some("different pw"))
                .unwrap_err()
                .field,
            "password_confirm"
        );
    }

    #[test]
    fn twilio_credential_rules() {
        assert!(auth_token("f", &"ab".repeat(16)).is_ok());
        assert!(auth_token("f", "short").is_err());
        assert!(sip_password("f", "Abcdefghij12").is_ok());
        assert!(sip_password("f", "abcdefghij12").is_err());
        assert!(sip_password("f", "ABCDEFGHIJ12").is_err());
        assert!(sip_password("f", "Abcdefghijkl").is_err());
        assert!(sip_password("f", "Abc12").is_err());
        assert!(sip_username("f", &"a".repeat(33)).is_err());
        assert!(sip_username("f", "dial").is_ok());
    }
}
