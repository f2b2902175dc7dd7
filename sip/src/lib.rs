//! LiveKit's SIP matching rules: number normalisation and the conflict checks LiveKit runs
//! when a trunk or dispatch rule is created (livekit/protocol `sip/sip.go`), and the
//! address lists trunks and proxies are written in. Dial's provisioning engine evaluates
//! the rules locally before it creates anything and the LiveKit fake (`dial-fakes`)
//! enforces them, so both agree by construction with what the real server refuses.

use livekit_protocol as proto;
use proto::sip_dispatch_rule::Rule;

/// An existing LiveKit object that a new trunk or rule would clash with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub other_id: String,
    pub other_name: String,
    /// LiveKit's own wording of the refusal.
    pub message: String,
}

/// LiveKit's normalisation: strings that look numeric lose spaces, `-`, `(`, `)` and gain
/// a leading `+`; other strings stay as they are.
pub fn normalize_number(s: &str) -> String {
    let s = s.trim();
    let numeric = !s.is_empty()
        && s.strip_prefix('+')
            .unwrap_or(s)
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | '(' | ')'))
        && s.chars().any(|c| c.is_ascii_digit());
    if !numeric {
        return s.to_string();
    }
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("+{digits}")
}

pub fn normalized_set(list: &[String]) -> Vec<String> {
    list.iter().map(|n| normalize_number(n)).collect()
}

/// The conflict keys of an inbound trunk: (number bucket, allowed-number key).
pub fn inbound_keys(t: &proto::SipInboundTrunkInfo) -> Vec<(String, String)> {
    let buckets = if t.numbers.is_empty() {
        vec![String::new()]
    } else {
        normalized_set(&t.numbers)
    };
    let keys = if t.allowed_numbers.is_empty() {
        vec![String::new()]
    } else {
        normalized_set(&t.allowed_numbers)
    };
    buckets
        .iter()
        .flat_map(|b| keys.iter().map(move |k| (b.clone(), k.clone())))
        .collect()
}

/// LiveKit's check when an inbound trunk is created or updated (livekit/livekit
/// `pkg/service/sip.go`, `CreateSIPInboundTrunk`; livekit/protocol `sip/sip.go`,
/// `ValidateTrunksIter`): the new trunk and every stored trunk that could match the same
/// calls — trunks without numbers, and trunks sharing a number (all of them when the new
/// trunk has no numbers) — are validated together, and the first two that share a key
/// (number × allowed number) refuse the request, even when neither is the new trunk.
pub fn check_inbound_conflict(
    new: &proto::SipInboundTrunkInfo,
    existing: &[proto::SipInboundTrunkInfo],
) -> Result<(), Conflict> {
    let wanted = normalized_set(&new.numbers);
    let mut listed: Vec<&proto::SipInboundTrunkInfo> = existing
        .iter()
        .filter(|o| o.sip_trunk_id != new.sip_trunk_id)
        .filter(|o| {
            wanted.is_empty()
                || o.numbers.is_empty()
                || normalized_set(&o.numbers)
                    .iter()
                    .any(|n| wanted.contains(n))
        })
        .collect();
    listed.push(new);
    let keys: Vec<Vec<(String, String)>> = listed.iter().map(|t| inbound_keys(t)).collect();
    for (i, a) in listed.iter().enumerate() {
        for (j, b) in listed.iter().enumerate().skip(i + 1) {
            let shared: Vec<&(String, String)> =
                keys[i].iter().filter(|k| keys[j].contains(k)).collect();
            let Some((_, key)) = shared.first() else {
                continue;
            };
            let numbers: Vec<&str> = shared
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| !n.is_empty())
                .collect();
            let tail = if key.is_empty() {
                "without AllowedNumbers set".to_string()
            } else {
                format!("with the same AllowedNumbers [{key}]")
            };
            let id = |t: &proto::SipInboundTrunkInfo| {
                if std::ptr::eq(t, new) && t.sip_trunk_id.is_empty() {
                    "<new>".to_string()
                } else {
                    t.sip_trunk_id.clone()
                }
            };
            // The other trunk: the one that is not the new one (the first, when the new
            // one is not involved).
            let other = if std::ptr::eq(*a, new) { *b } else { *a };
            return Err(Conflict {
                other_id: other.sip_trunk_id.clone(),
                other_name: other.name.clone(),
                message: format!(
                    "Conflicting inbound SIP Trunks: {:?} and {:?}, using the same number(s) [{}] {tail}",
                    id(a),
                    id(b),
                    numbers.join(" ")
                ),
            });
        }
    }
    Ok(())
}

pub fn rule_pin(rule: &proto::SipDispatchRuleInfo) -> String {
    match rule.rule.as_ref().and_then(|r| r.rule.as_ref()) {
        Some(Rule::DispatchRuleDirect(d)) => d.pin.clone(),
        Some(Rule::DispatchRuleIndividual(i)) => i.pin.clone(),
        Some(Rule::DispatchRuleCallee(c)) => c.pin.clone(),
        None => String::new(),
    }
}

fn or_empty(list: Vec<String>) -> Vec<String> {
    if list.is_empty() {
        vec![String::new()]
    } else {
        list
    }
}

/// Conflict keys of a dispatch rule: (pin, trunk id, inbound number, number).
pub fn rule_keys(rule: &proto::SipDispatchRuleInfo) -> Vec<(String, String, String, String)> {
    let pin = rule_pin(rule);
    let trunks = or_empty(rule.trunk_ids.clone());
    let inbound = or_empty(normalized_set(&rule.inbound_numbers));
    let numbers = or_empty(normalized_set(&rule.numbers));
    let mut keys = Vec::new();
    for t in &trunks {
        for i in &inbound {
            for n in &numbers {
                keys.push((pin.clone(), t.clone(), i.clone(), n.clone()));
            }
        }
    }
    keys
}

/// LiveKit's check when a dispatch rule is created or updated (livekit/livekit
/// `pkg/service/sip.go`, `CreateSIPDispatchRule`; livekit/protocol `sip/sip.go`,
/// `ValidateDispatchRulesIter`): the new rule and every stored rule that shares one of
/// its trunks (or has none; all rules when the new one has none) are validated together;
/// the first two with the same (PIN, trunk, inbound number, number) refuse the request,
/// even when neither is the new rule.
pub fn check_rule_conflict(
    new: &proto::SipDispatchRuleInfo,
    existing: &[proto::SipDispatchRuleInfo],
) -> Result<(), Conflict> {
    let mut listed: Vec<&proto::SipDispatchRuleInfo> = existing
        .iter()
        .filter(|o| o.sip_dispatch_rule_id != new.sip_dispatch_rule_id)
        .filter(|o| {
            new.trunk_ids.is_empty()
                || o.trunk_ids.is_empty()
                || o.trunk_ids.iter().any(|t| new.trunk_ids.contains(t))
        })
        .collect();
    listed.push(new);
    let keys: Vec<_> = listed.iter().map(|r| rule_keys(r)).collect();
    for (i, a) in listed.iter().enumerate() {
        for (j, b) in listed.iter().enumerate().skip(i + 1) {
            if !keys[i].iter().any(|k| keys[j].contains(k)) {
                continue;
            }
            // Named: the stored rule of the pair (the earlier one when both are stored).
            let other = if std::ptr::eq(*a, new) { *b } else { *a };
            return Err(Conflict {
                other_id: other.sip_dispatch_rule_id.clone(),
                other_name: other.name.clone(),
                message: format!(
                    "Dispatch rule for the same trunk, inbound number, number, and PIN combination already exists in dispatch rule {:?} {:?}",
                    other.sip_dispatch_rule_id, other.name
                ),
            });
        }
    }
    Ok(())
}

/// A SIP host name as Twilio and LiveKit expect it for a trunk address: no `sip:`
/// scheme, no user, port, path or parameters, at least two labels (e.g.
/// `abc123.pstn.twilio.com`). Lower-cased, without a trailing dot. Parsed once, where the
/// text comes in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipHost(String);

/// Why a text is not a [`SipHost`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipHostError {
    /// It starts with `sip:` or `sips:`.
    Scheme,
    /// It has a user, port, path or parameters.
    NotJustAHost,
    /// Empty labels, bad characters, too long, or a single label.
    Invalid,
}

impl SipHost {
    pub fn parse(text: &str) -> Result<SipHost, SipHostError> {
        let host = text.trim().trim_end_matches('.').to_lowercase();
        if host.starts_with("sip:") || host.starts_with("sips:") {
            return Err(SipHostError::Scheme);
        }
        if host.contains(['@', ';', ':', '/']) {
            return Err(SipHostError::NotJustAHost);
        }
        let labels: Vec<&str> = host.split('.').collect();
        let valid = host.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if valid {
            Ok(SipHost(host))
        } else {
            Err(SipHostError::Invalid)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SipHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address list entry: an IP address (a network of one) or a CIDR block. `None` for
/// anything else; total over any text.
pub fn parse_address(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

/// Whether `ip` falls inside the list entry `entry` (an entry that does not parse holds
/// nothing).
pub fn address_contains(entry: &str, ip: std::net::IpAddr) -> bool {
    parse_address(entry).is_some_and(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_normalise_like_livekit() {
        assert_eq!(normalize_number("+1 (415) 555-0100"), "+14155550100");
        assert_eq!(normalize_number("14155550100"), "+14155550100");
        assert_eq!(normalize_number("alice"), "alice");
        assert_eq!(normalize_number(""), "");
    }

    #[test]
    fn addresses_are_ips_or_cidr_blocks() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("test address");
        assert!(address_contains("54.172.60.0/30", ip("54.172.60.3")));
        assert!(!address_contains("54.172.60.0/30", ip("54.172.60.4")));
        assert!(address_contains("127.0.0.1", ip("127.0.0.1")));
        assert!(address_contains("::1", ip("::1")));
        assert!(!address_contains("10.0.0.0/8", ip("::1")));
        assert!(parse_address("not an ip").is_none());
        assert!(parse_address("10.0.0.0/33").is_none());
    }

    #[test]
    fn sip_hosts_are_bare_host_names() {
        assert_eq!(
            SipHost::parse(" ABC123.pstn.twilio.com. ").map(|h| h.to_string()),
            Ok("abc123.pstn.twilio.com".to_string())
        );
        assert_eq!(
            SipHost::parse("sip:abc.pstn.twilio.com"),
            Err(SipHostError::Scheme)
        );
        assert_eq!(
            SipHost::parse("user@abc.example.com"),
            Err(SipHostError::NotJustAHost)
        );
        assert_eq!(
            SipHost::parse("abc.example.com:5060"),
            Err(SipHostError::NotJustAHost)
        );
        assert_eq!(SipHost::parse("localhost"), Err(SipHostError::Invalid));
        assert_eq!(SipHost::parse("-a.example.com"), Err(SipHostError::Invalid));
    }

    proptest! {
        #[test]
        fn parsing_is_total(text in any::<String>()) {
            let _ = parse_address(&text);
            let _ = normalize_number(&text);
            if let Ok(host) = SipHost::parse(&text) {
                // A parsed host parses again to itself.
                prop_assert_eq!(SipHost::parse(host.as_str()), Ok(host.clone()));
            }
        }
    }
}
