//! Phone numbers: the account itself, searching the inventory of available numbers, and
//! buying, updating and releasing incoming numbers (REST 2010-04-01).

use super::{
    new_sid, rfc2822,
    wire::{error, invalid, not_found, parse_bool, Ctx, Refused},
    Account, Available, Number, Owned,
};
use crate::now;
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

/// `GET /2010-04-01/Accounts/{Sid}.json`.
pub(crate) fn fetch_account(account: &mut Account, _: &mut Owned, _: &Ctx) -> Response {
    Json(json!({
        "sid": account.sid,
        "friendly_name": account.friendly_name,
        "status": "active",
        "type": "Full",
        "owner_account_sid": account.sid,
        "uri": format!("/2010-04-01/Accounts/{}.json", account.sid),
    }))
    .into_response()
}

pub(crate) fn search_local(account: &mut Account, owned: &mut Owned, ctx: &Ctx) -> Response {
    search(account, owned, ctx, "Local")
}

pub(crate) fn search_toll_free(account: &mut Account, owned: &mut Owned, ctx: &Ctx) -> Response {
    search(account, owned, ctx, "TollFree")
}

pub(crate) fn search_mobile(account: &mut Account, owned: &mut Owned, ctx: &Ctx) -> Response {
    search(account, owned, ctx, "Mobile")
}

/// `GET …/AvailablePhoneNumbers/{CountryCode}/{Local,TollFree,Mobile}.json`: the
/// inventory's numbers of that country and kind that no account owns.
fn search(_: &mut Account, owned: &mut Owned, ctx: &Ctx, kind: &str) -> Response {
    let country = ctx.id("CountryCode").to_ascii_uppercase();
    let area = ctx.string("AreaCode");
    let contains = ctx.string("Contains");
    let want = |name: &str| ctx.get(name).and_then(parse_bool);
    let (voice, sms, mms) = (want("VoiceEnabled"), want("SmsEnabled"), want("MmsEnabled"));
    let size = ctx
        .get("PageSize")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let found: Vec<Value> = inventory()
        .into_iter()
        .filter(|a| a.country == country && a.kind == kind && !owned.contains_key(&a.phone_number))
        .filter(|a| match &area {
            Some(code) => a
                .phone_number
                .strip_prefix("+1")
                .is_some_and(|n| n.starts_with(code.as_str())),
            None => true,
        })
        .filter(|a| {
            contains
                .as_deref()
                .is_none_or(|c| contains_matches(&a.phone_number, c))
        })
        .filter(|a| {
            voice.is_none_or(|v| !v || a.voice)
                && sms.is_none_or(|v| !v || a.sms)
                && mms.is_none_or(|v| !v || a.mms)
        })
        .take(size)
        .map(|a| {
            json!({
                "friendly_name": a.friendly_name,
                "phone_number": a.phone_number,
                "locality": (!a.locality.is_empty()).then_some(a.locality),
                "region": (!a.region.is_empty()).then_some(a.region),
                "iso_country": a.country,
                "address_requirements": if regulated(a.country) { "any" } else { "none" },
                "beta": false,
                "capabilities": { "voice": a.voice, "SMS": a.sms, "MMS": a.mms },
            })
        })
        .collect();
    Json(json!({ "available_phone_numbers": found, "uri": ctx.path })).into_response()
}

/// `GET …/IncomingPhoneNumbers.json`, filtered by `PhoneNumber` (a substring) and
/// `FriendlyName`.
pub(crate) fn list(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let wanted = ctx
        .get("PhoneNumber")
        .map(|p| p.replace([' ', '-', '(', ')'], ""));
    let items = account
        .numbers
        .iter()
        .filter(|n| {
            wanted
                .as_deref()
                .is_none_or(|w| n.available.phone_number.contains(w))
        })
        .filter(|n| ctx.get("FriendlyName").is_none_or(|f| n.friendly_name == f))
        .map(|n| number_json(&account.sid, n))
        .collect();
    ctx.page_2010("incoming_phone_numbers", items)
}

/// `POST …/IncomingPhoneNumbers.json`: buys the number asked for (or the first in an area
/// code); a number not in the inventory or owned by anyone is error 21422.
pub(crate) fn buy(account: &mut Account, owned: &mut Owned, ctx: &Ctx) -> Response {
    let pick = match (ctx.get("PhoneNumber"), ctx.get("AreaCode")) {
        (Some(number), _) => {
            let number = number.replace([' ', '-', '(', ')'], "");
            match inventory().into_iter().find(|a| a.phone_number == number) {
                Some(a) if !owned.contains_key(&a.phone_number) => a,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        21422,
                        &format!("Phone number {number} is not available. It may have been purchased by someone else."),
                    )
                }
            }
        }
        (None, Some(area)) => match inventory().into_iter().find(|a| {
            a.kind == "Local"
                && !owned.contains_key(&a.phone_number)
                && a.phone_number
                    .strip_prefix("+1")
                    .is_some_and(|n| n.starts_with(area))
        }) {
            Some(a) => a,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    21452,
                    &format!("No phone numbers found in area code {area}"),
                )
            }
        },
        (None, None) => {
            return invalid("Missing required parameter PhoneNumber or AreaCode in the post body")
        }
    };
    // Most numbers outside the US and Canada are sold only with an address (error 21631,
    // twilio.com/docs/api/errors/21631) and an approved regulatory bundle (error 21649,
    // Twilio changelog 2020-02-12 "Regulated Number Bundle Provisioning Requirement");
    // `AddressSid` and `BundleSid` in twilio_api_v2010.yaml.
    if regulated(pick.country) {
        if ctx.get("AddressSid").is_none_or(str::is_empty) {
            return error(
                StatusCode::BAD_REQUEST,
                21631,
                "Phone Number Requires an Address: to purchase this number you must supply the AddressSid of the user of this phone number",
            );
        }
        if ctx.get("BundleSid").is_none_or(str::is_empty) {
            return error(
                StatusCode::BAD_REQUEST,
                21649,
                "Phone Number Requires a Bundle: provisioning a regulated phone number requires an approved BundleSid",
            );
        }
    }
    let trunk_sid = ctx.string("TrunkSid").filter(|s| !s.is_empty());
    if let Some(t) = &trunk_sid {
        if !account.trunks.iter().any(|tr| &tr.sid == t) {
            return invalid(&format!("TrunkSid {t} is not a trunk of this account"));
        }
    }
    let number = Number {
        sid: new_sid("PN"),
        friendly_name: ctx
            .string("FriendlyName")
            .unwrap_or_else(|| pick.friendly_name.clone()),
        available: pick,
        trunk_sid,
        voice_url: ctx.string("VoiceUrl"),
        voice_application_sid: ctx.string("VoiceApplicationSid").filter(|s| !s.is_empty()),
        voice_method: ctx.string("VoiceMethod").unwrap_or_else(|| "POST".into()),
        status_callback: ctx.string("StatusCallback"),
        status_callback_method: ctx
            .string("StatusCallbackMethod")
            .unwrap_or_else(|| "POST".into()),
        created: now(),
    };
    owned.insert(number.available.phone_number.clone(), account.sid.clone());
    let body = number_json(&account.sid, &number);
    account.numbers.push(number);
    (StatusCode::CREATED, Json(body)).into_response()
}

fn position(account: &Account, ctx: &Ctx) -> Result<usize, Refused> {
    let sid = ctx.id("Sid");
    account
        .numbers
        .iter()
        .position(|n| n.sid == sid)
        .ok_or_else(|| Box::new(not_found(&ctx.path)))
}

/// `GET …/IncomingPhoneNumbers/{Sid}.json`.
pub(crate) fn fetch(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    match position(account, ctx) {
        Ok(index) => Json(number_json(&account.sid, &account.numbers[index])).into_response(),
        Err(response) => *response,
    }
}

/// `DELETE …/IncomingPhoneNumbers/{Sid}.json`: the number goes back to the inventory.
pub(crate) fn release(account: &mut Account, owned: &mut Owned, ctx: &Ctx) -> Response {
    match position(account, ctx) {
        Ok(index) => {
            let number = account.numbers.remove(index);
            owned.remove(&number.available.phone_number);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => *response,
    }
}

/// `POST …/IncomingPhoneNumbers/{Sid}.json`: the fields given change; an empty value
/// clears an optional one.
pub(crate) fn update(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let index = match position(account, ctx) {
        Ok(index) => index,
        Err(response) => return *response,
    };
    if let Some(t) = ctx.string("TrunkSid").filter(|s| !s.is_empty()) {
        if !account.trunks.iter().any(|tr| tr.sid == t) {
            return invalid(&format!("TrunkSid {t} is not a trunk of this account"));
        }
    }
    let n = &mut account.numbers[index];
    if let Some(v) = ctx.string("FriendlyName") {
        n.friendly_name = v;
    }
    // A trunk and a voice application exclude each other: setting one deletes the other
    // (twilio_api_v2010.yaml, `trunk_sid` and `voice_application_sid`).
    if let Some(v) = ctx.string("TrunkSid") {
        n.trunk_sid = (!v.is_empty()).then_some(v);
        if n.trunk_sid.is_some() {
            n.voice_application_sid = None;
        }
    }
    if let Some(v) = ctx.string("VoiceUrl") {
        n.voice_url = (!v.is_empty()).then_some(v);
    }
    if let Some(v) = ctx.string("VoiceApplicationSid") {
        n.voice_application_sid = (!v.is_empty()).then_some(v);
        if n.voice_application_sid.is_some() {
            n.trunk_sid = None;
        }
    }
    if let Some(v) = ctx.string("VoiceMethod") {
        n.voice_method = v;
    }
    if let Some(v) = ctx.string("StatusCallback") {
        n.status_callback = (!v.is_empty()).then_some(v);
    }
    if let Some(v) = ctx.string("StatusCallbackMethod") {
        n.status_callback_method = v;
    }
    Json(number_json(&account.sid, n)).into_response()
}

pub(crate) fn number_json(account: &str, n: &Number) -> Value {
    json!({
        "sid": n.sid,
        "account_sid": account,
        "phone_number": n.available.phone_number,
        "friendly_name": n.friendly_name,
        "trunk_sid": n.trunk_sid,
        "voice_url": n.voice_url,
        "voice_application_sid": n.voice_application_sid,
        "voice_method": n.voice_method,
        "status_callback": n.status_callback,
        "status_callback_method": n.status_callback_method,
        "capabilities": { "voice": n.available.voice, "sms": n.available.sms, "mms": n.available.mms, "fax": false },
        "origin": "twilio",
        "status": "in-use",
        "api_version": "2010-04-01",
        "date_created": rfc2822(n.created),
        "date_updated": rfc2822(n.created),
        "uri": format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{}.json", n.sid),
    })
}

/// The deterministic inventory: fictional (555 / Ofcom drama) numbers.
/// Countries whose numbers need an address and a regulatory bundle (of the inventory's:
/// everything but the US and Canada).
fn regulated(country: &str) -> bool {
    !matches!(country, "US" | "CA")
}

/// What the inventory sells: each country (ISO code) with the kinds of number it has
/// (`Local`, `TollFree`, `Mobile`, as in the search's path), in the inventory's order. A
/// search elsewhere finds nothing, as Twilio's does where it has no numbers for an account
/// (an empty `available_phone_numbers`, not an error: Twilio's "AvailablePhoneNumber
/// resource" doc).
pub fn inventory_kinds() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut kinds: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for a in inventory() {
        match kinds.iter_mut().find(|(country, _)| *country == a.country) {
            Some((_, list)) if !list.contains(&a.kind) => list.push(a.kind),
            Some(_) => {}
            None => kinds.push((a.country, vec![a.kind])),
        }
    }
    kinds
}

pub(crate) fn inventory() -> Vec<Available> {
    let mut all = Vec::new();
    let mut add = |country: &'static str,
                   kind: &'static str,
                   prefix: &str,
                   national: &str,
                   locality: &'static str,
                   region: &'static str,
                   count: u32,
                   caps: (bool, bool, bool)| {
        for i in 0..count {
            let suffix = format!("{:02}", i);
            let number = format!("{prefix}{national}{suffix}");
            let friendly = if prefix == "+1" {
                format!(
                    "({}) {}-{}{}",
                    &national[0..3],
                    &national[3..6],
                    &national[6..],
                    suffix
                )
            } else {
                format!("{prefix} {national}{suffix}")
            };
            all.push(Available {
                phone_number: number,
                friendly_name: friendly,
                locality,
                region,
                country,
                kind,
                voice: caps.0,
                sms: caps.1,
                mms: caps.2,
            });
        }
    };
    for (area, locality, region) in [
        ("415", "San Francisco", "CA"),
        ("510", "Oakland", "CA"),
        ("212", "New York", "NY"),
        ("312", "Chicago", "IL"),
        ("206", "Seattle", "WA"),
        ("617", "Boston", "MA"),
    ] {
        add(
            "US",
            "Local",
            "+1",
            &format!("{area}55501"),
            locality,
            region,
            40,
            (true, true, true),
        );
    }
    for area in ["800", "833", "844", "855"] {
        add(
            "US",
            "TollFree",
            "+1",
            &format!("{area}55501"),
            "",
            "",
            20,
            (true, true, false),
        );
    }
    for (area, locality, region) in [
        ("416", "Toronto", "ON"),
        ("604", "Vancouver", "BC"),
        ("514", "Montreal", "QC"),
    ] {
        add(
            "CA",
            "Local",
            "+1",
            &format!("{area}55501"),
            locality,
            region,
            30,
            (true, true, true),
        );
    }
    add(
        "CA",
        "TollFree",
        "+1",
        "88855501",
        "",
        "",
        20,
        (true, true, false),
    );
    // United Kingdom numbers have 10 national digits, from Ofcom's ranges for drama
    // (020 7946 0xxx, 0161 496 0xxx, 0808 157 0xxx, 07700 900xxx), as Twilio would sell
    // real ones: +44 20 7946 0000.
    add(
        "GB",
        "Local",
        "+44",
        "20794600",
        "London",
        "",
        40,
        (true, false, false),
    );
    add(
        "GB",
        "Local",
        "+44",
        "16149600",
        "Manchester",
        "",
        40,
        (true, false, false),
    );
    add(
        "GB",
        "TollFree",
        "+44",
        "80815700",
        "",
        "",
        20,
        (true, false, false),
    );
    add(
        "GB",
        "Mobile",
        "+44",
        "77009001",
        "",
        "",
        40,
        (true, true, false),
    );
    all
}

/// Twilio's `Contains`: digits (and letters, mapped to keypad digits) with `*` as a
/// one-character wildcard, matched anywhere in the number.
fn contains_matches(number: &str, pattern: &str) -> bool {
    let digits: Vec<char> = number.chars().filter(|c| c.is_ascii_digit()).collect();
    let pattern: Vec<char> = pattern
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '+')
        .map(|c| match c.to_ascii_uppercase() {
            'A'..='C' => '2',
            'D'..='F' => '3',
            'G'..='I' => '4',
            'J'..='L' => '5',
            'M'..='O' => '6',
            'P'..='S' => '7',
            'T'..='V' => '8',
            'W'..='Z' => '9',
            other => other,
        })
        .collect();
    if pattern.is_empty() {
        return true;
    }
    digits
        .windows(pattern.len())
        .any(|w| w.iter().zip(&pattern).all(|(d, p)| *p == '*' || d == p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_uses_wildcards_and_keypad_letters() {
        assert!(contains_matches("+14155550100", "555"));
        assert!(contains_matches("+14155550100", "5*5"));
        assert!(contains_matches("+14155550100", "JKL")); // 555
        assert!(!contains_matches("+14155550100", "999"));
    }

    #[test]
    fn inventory_is_deterministic_and_covers_three_countries() {
        let a = inventory();
        let b = inventory();
        assert_eq!(a.len(), b.len());
        for (country, kind) in [
            ("US", "Local"),
            ("US", "TollFree"),
            ("CA", "Local"),
            ("GB", "Local"),
            ("GB", "Mobile"),
            ("GB", "TollFree"),
        ] {
            assert!(
                a.iter().any(|n| n.country == country && n.kind == kind),
                "{country} {kind}"
            );
        }
        assert_eq!(
            inventory_kinds(),
            [
                ("US", vec!["Local", "TollFree"]),
                ("CA", vec!["Local", "TollFree"]),
                ("GB", vec!["Local", "TollFree", "Mobile"]),
            ]
        );
        // Real lengths: 10 national digits in North America and the United Kingdom.
        for n in &a {
            let national = n
                .phone_number
                .strip_prefix(if n.country == "GB" { "+44" } else { "+1" })
                .unwrap_or_default();
            assert_eq!(national.len(), 10, "{}", n.phone_number);
        }
        let mut numbers: Vec<&str> = a.iter().map(|n| n.phone_number.as_str()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), a.len(), "numbers are unique");
    }
}
