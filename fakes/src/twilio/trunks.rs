//! Elastic SIP Trunking v1: trunks and what hangs off them — origination URLs, phone
//! numbers and credential lists.

use super::{
    new_sid,
    wire::{error, invalid, not_found, parse_bool, Ctx, Refused},
    Account, Number, OriginationUrl, Owned, Trunk,
};
use crate::now;
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

fn trunk_json(account: &str, t: &Trunk) -> Value {
    json!({
        "sid": t.sid,
        "account_sid": account,
        "friendly_name": t.friendly_name,
        "domain_name": t.domain_name,
        "transfer_mode": t.transfer_mode,
        "transfer_caller_id": t.transfer_caller_id,
        "secure": t.secure,
        "cnam_lookup_enabled": t.cnam_lookup_enabled,
        "disaster_recovery_url": t.disaster_recovery_url,
        "disaster_recovery_method": "POST",
        "recording": { "mode": "do-not-record", "trim": "do-not-trim" },
        "date_created": chrono::DateTime::from_timestamp(t.created, 0).map(|d| d.to_rfc3339()),
        "url": format!("https://trunking.twilio.com/v1/Trunks/{}", t.sid),
    })
}

fn origination_json(account: &str, trunk: &str, o: &OriginationUrl) -> Value {
    json!({
        "sid": o.sid,
        "account_sid": account,
        "trunk_sid": trunk,
        "sip_url": o.sip_url,
        "priority": o.priority,
        "weight": o.weight,
        "enabled": o.enabled,
        "friendly_name": o.friendly_name,
    })
}

fn trunk_number_json(account: &str, n: &Number) -> Value {
    json!({
        "sid": n.sid,
        "account_sid": account,
        "trunk_sid": n.trunk_sid,
        "phone_number": n.available.phone_number,
        "friendly_name": n.friendly_name,
        "capabilities": { "voice": n.available.voice, "sms": n.available.sms, "mms": n.available.mms },
    })
}

/// `GET /v1/Trunks`.
pub(crate) fn list(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let items = account
        .trunks
        .iter()
        .map(|t| trunk_json(&account.sid, t))
        .collect();
    ctx.page_v1("trunks", items)
}

/// A `DomainName` must be a label under `pstn.twilio.com`, and unused: 400 / 409 (21248).
fn check_domain(account: &Account, ctx: &Ctx) -> Result<(), Refused> {
    let Some(domain) = ctx.get("DomainName").filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let lower = domain.to_ascii_lowercase();
    let label = lower.strip_suffix(".pstn.twilio.com").unwrap_or("");
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(Box::new(invalid(&format!("DomainName {domain} is invalid: it must be a name ending in pstn.twilio.com, e.g. example.pstn.twilio.com"))));
    }
    // Domains are global at Twilio; the fake checks within the account (accounts in one
    // fake rarely share domains) — a conservative approximation.
    let except = ctx.id("Sid");
    if account
        .trunks
        .iter()
        .any(|t| t.sid != except && t.domain_name.as_deref() == Some(lower.as_str()))
    {
        return Err(Box::new(error(
            StatusCode::CONFLICT,
            21248,
            &format!("DomainName {domain} is already in use"),
        )));
    }
    Ok(())
}

/// `POST /v1/Trunks`. `TransferMode` defaults to `disable-all`, as at Twilio.
pub(crate) fn create(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    if let Err(response) = check_domain(account, ctx) {
        return *response;
    }
    let trunk = Trunk {
        sid: new_sid("TK"),
        friendly_name: ctx.string("FriendlyName"),
        domain_name: ctx
            .get("DomainName")
            .filter(|d| !d.is_empty())
            .map(|d| d.to_ascii_lowercase()),
        transfer_mode: ctx
            .string("TransferMode")
            .unwrap_or_else(|| "disable-all".into()),
        transfer_caller_id: ctx
            .string("TransferCallerId")
            .unwrap_or_else(|| "from-transferee".into()),
        secure: ctx.get("Secure").and_then(parse_bool).unwrap_or(false),
        cnam_lookup_enabled: ctx
            .get("CnamLookupEnabled")
            .and_then(parse_bool)
            .unwrap_or(false),
        disaster_recovery_url: ctx.string("DisasterRecoveryUrl"),
        origination_urls: Vec::new(),
        credential_lists: Vec::new(),
        created: now(),
        cps: super::DEFAULT_TRUNK_CPS,
    };
    let body = trunk_json(&account.sid, &trunk);
    account.trunks.push(trunk);
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The trunk a request's path names (`Sid` on the trunk itself, `TrunkSid` below it).
fn trunk_index(account: &Account, ctx: &Ctx, placeholder: &str) -> Result<usize, Refused> {
    let sid = ctx.id(placeholder);
    account
        .trunks
        .iter()
        .position(|t| t.sid == sid)
        .ok_or_else(|| Box::new(not_found(&ctx.path)))
}

/// `POST /v1/Trunks/{Sid}`: the fields given change.
pub(crate) fn update(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    if let Err(response) = check_domain(account, ctx) {
        return *response;
    }
    let index = match trunk_index(account, ctx, "Sid") {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let t = &mut account.trunks[index];
    if let Some(v) = ctx.string("FriendlyName") {
        t.friendly_name = Some(v);
    }
    if let Some(v) = ctx.get("DomainName") {
        t.domain_name = (!v.is_empty()).then(|| v.to_ascii_lowercase());
    }
    if let Some(v) = ctx.string("TransferMode") {
        t.transfer_mode = v;
    }
    if let Some(v) = ctx.string("TransferCallerId") {
        t.transfer_caller_id = v;
    }
    if let Some(v) = ctx.get("Secure").and_then(parse_bool) {
        t.secure = v;
    }
    if let Some(v) = ctx.get("CnamLookupEnabled").and_then(parse_bool) {
        t.cnam_lookup_enabled = v;
    }
    Json(trunk_json(&account.sid, t)).into_response()
}

/// `GET /v1/Trunks/{Sid}`.
pub(crate) fn fetch(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    match trunk_index(account, ctx, "Sid") {
        Ok(index) => Json(trunk_json(&account.sid, &account.trunks[index])).into_response(),
        Err(response) => *response,
    }
}

/// `DELETE /v1/Trunks/{Sid}`: its numbers stay on the account, on no trunk.
pub(crate) fn delete(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let index = match trunk_index(account, ctx, "Sid") {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let trunk = account.trunks.remove(index);
    for n in &mut account.numbers {
        if n.trunk_sid.as_deref() == Some(trunk.sid.as_str()) {
            n.trunk_sid = None;
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

// -- Origination URLs -----------------------------------------------------------------

/// `GET /v1/Trunks/{TrunkSid}/OriginationUrls`.
pub(crate) fn list_origination_urls(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let index = match trunk_index(account, ctx, "TrunkSid") {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let trunk = &account.trunks[index];
    let items = trunk
        .origination_urls
        .iter()
        .map(|o| origination_json(&account.sid, &trunk.sid, o))
        .collect();
    ctx.page_v1("origination_urls", items)
}

/// `POST /v1/Trunks/{TrunkSid}/OriginationUrls`: a SIP URI, priority 0–65535 and weight
/// 1–65535.
pub(crate) fn create_origination_url(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let index = match trunk_index(account, ctx, "TrunkSid") {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let sip_url = ctx.string("SipUrl").unwrap_or_default();
    if !(sip_url.starts_with("sip:") || sip_url.starts_with("sips:")) {
        return invalid(&format!("SipUrl {sip_url} is invalid: it must be a SIP URI such as sip:example.sip.livekit.cloud"));
    }
    let number = |name: &str| {
        ctx.get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (priority, weight) = (number("Priority"), number("Weight"));
    if !(0..=65535).contains(&priority) || !(1..=65535).contains(&weight) {
        return invalid("Priority must be between 0 and 65535 and Weight between 1 and 65535");
    }
    let o = OriginationUrl {
        sid: new_sid("OU"),
        sip_url,
        priority,
        weight,
        enabled: ctx.get("Enabled").and_then(parse_bool).unwrap_or(true),
        friendly_name: ctx.string("FriendlyName").unwrap_or_default(),
    };
    let trunk = &mut account.trunks[index];
    let body = origination_json(&account.sid, &trunk.sid, &o);
    trunk.origination_urls.push(o);
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The trunk and origination URL a request's path names.
fn origination_index(account: &Account, ctx: &Ctx) -> Result<(usize, usize), Refused> {
    let trunk = trunk_index(account, ctx, "TrunkSid")?;
    let sid = ctx.id("Sid");
    account.trunks[trunk]
        .origination_urls
        .iter()
        .position(|o| o.sid == sid)
        .map(|index| (trunk, index))
        .ok_or_else(|| Box::new(not_found(&ctx.path)))
}

/// `GET /v1/Trunks/{TrunkSid}/OriginationUrls/{Sid}`.
pub(crate) fn fetch_origination_url(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    match origination_index(account, ctx) {
        Ok((t, o)) => {
            let trunk = &account.trunks[t];
            Json(origination_json(
                &account.sid,
                &trunk.sid,
                &trunk.origination_urls[o],
            ))
            .into_response()
        }
        Err(response) => *response,
    }
}

/// `POST /v1/Trunks/{TrunkSid}/OriginationUrls/{Sid}`: the fields given change.
pub(crate) fn update_origination_url(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let (t, index) = match origination_index(account, ctx) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let trunk = &mut account.trunks[t];
    let o = &mut trunk.origination_urls[index];
    if let Some(v) = ctx.string("SipUrl") {
        o.sip_url = v;
    }
    if let Some(v) = ctx.get("Priority").and_then(|v| v.parse().ok()) {
        o.priority = v;
    }
    if let Some(v) = ctx.get("Weight").and_then(|v| v.parse().ok()) {
        o.weight = v;
    }
    if let Some(v) = ctx.get("Enabled").and_then(parse_bool) {
        o.enabled = v;
    }
    if let Some(v) = ctx.string("FriendlyName") {
        o.friendly_name = v;
    }
    Json(origination_json(&account.sid, &trunk.sid, o)).into_response()
}

/// `DELETE /v1/Trunks/{TrunkSid}/OriginationUrls/{Sid}`.
pub(crate) fn delete_origination_url(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    match origination_index(account, ctx) {
        Ok((t, o)) => {
            account.trunks[t].origination_urls.remove(o);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => *response,
    }
}

// -- Phone numbers on a trunk ---------------------------------------------------------

/// `GET /v1/Trunks/{TrunkSid}/PhoneNumbers`.
pub(crate) fn list_numbers(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let index = match trunk_index(account, ctx, "TrunkSid") {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let trunk_sid = account.trunks[index].sid.as_str();
    let items = account
        .numbers
        .iter()
        .filter(|n| n.trunk_sid.as_deref() == Some(trunk_sid))
        .map(|n| trunk_number_json(&account.sid, n))
        .collect();
    ctx.page_v1("phone_numbers", items)
}

/// `POST /v1/Trunks/{TrunkSid}/PhoneNumbers`: a number of the account on no trunk joins
/// this one; one on a trunk already is 409 (21224).
pub(crate) fn attach_number(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let index = match trunk_index(account, ctx, "TrunkSid") {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let trunk_sid = account.trunks[index].sid.clone();
    let pn = ctx.string("PhoneNumberSid").unwrap_or_default();
    let Some(n) = account.numbers.iter_mut().find(|n| n.sid == pn) else {
        return error(
            StatusCode::NOT_FOUND,
            20404,
            &format!("Phone number {pn} was not found on this account"),
        );
    };
    match &n.trunk_sid {
        Some(t) if t == &trunk_sid => {
            return error(
                StatusCode::CONFLICT,
                21224,
                &format!("Phone number {pn} is already associated with trunk {t}"),
            );
        }
        Some(t) => {
            return error(
                StatusCode::CONFLICT,
                21224,
                &format!("Phone number {pn} is already associated with another trunk {t}"),
            );
        }
        None => {}
    }
    // twilio_api_v2010.yaml, the number's `trunk_sid`: "Setting a `trunk_sid` will
    // automatically delete your `voice_application_sid` and vice versa"; the voice URLs
    // stay, ignored while the number is on a trunk.
    n.trunk_sid = Some(trunk_sid);
    n.voice_application_sid = None;
    (
        StatusCode::CREATED,
        Json(trunk_number_json(&account.sid, n)),
    )
        .into_response()
}

/// The number a trunk-number path names, if it is on that trunk.
fn trunk_number<'a>(account: &'a mut Account, ctx: &Ctx) -> Result<&'a mut Number, Refused> {
    let index = trunk_index(account, ctx, "TrunkSid")?;
    let trunk_sid = account.trunks[index].sid.clone();
    let sid = ctx.id("Sid");
    account
        .numbers
        .iter_mut()
        .find(|n| n.sid == sid && n.trunk_sid.as_deref() == Some(trunk_sid.as_str()))
        .ok_or_else(|| Box::new(not_found(&ctx.path)))
}

/// `GET /v1/Trunks/{TrunkSid}/PhoneNumbers/{Sid}`.
pub(crate) fn fetch_number(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let account_sid = account.sid.clone();
    match trunk_number(account, ctx) {
        Ok(n) => Json(trunk_number_json(&account_sid, n)).into_response(),
        Err(response) => *response,
    }
}

/// `DELETE /v1/Trunks/{TrunkSid}/PhoneNumbers/{Sid}`: the number stays on the account.
pub(crate) fn detach_number(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    match trunk_number(account, ctx) {
        Ok(n) => {
            n.trunk_sid = None;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => *response,
    }
}

// -- Credential lists on a trunk ------------------------------------------------------

fn trunk_list_json(account: &Account, trunk_sid: &str, cl: &str) -> Value {
    let name = account
        .credential_lists
        .iter()
        .find(|c| c.sid == cl)
        .map(|c| c.friendly_name.clone());
    json!({ "sid": cl, "account_sid": account.sid, "trunk_sid": trunk_sid, "friendly_name": name })
}

/// `GET /v1/Trunks/{TrunkSid}/CredentialLists`.
pub(crate) fn list_credential_lists(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let index = match trunk_index(account, ctx, "TrunkSid") {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let trunk = &account.trunks[index];
    let items = trunk
        .credential_lists
        .iter()
        .map(|cl| trunk_list_json(account, &trunk.sid, cl))
        .collect();
    ctx.page_v1("credential_lists", items)
}

/// `POST /v1/Trunks/{TrunkSid}/CredentialLists`: a list of the account joins the trunk
/// once (409, 21225, the second time).
pub(crate) fn attach_credential_list(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let index = match trunk_index(account, ctx, "TrunkSid") {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let cl = ctx.string("CredentialListSid").unwrap_or_default();
    if !account.credential_lists.iter().any(|c| c.sid == cl) {
        return error(
            StatusCode::NOT_FOUND,
            20404,
            &format!("Credential list {cl} was not found on this account"),
        );
    }
    if account.trunks[index].credential_lists.contains(&cl) {
        return error(
            StatusCode::CONFLICT,
            21225,
            &format!("Credential list {cl} is already associated with this trunk"),
        );
    }
    account.trunks[index].credential_lists.push(cl.clone());
    let body = trunk_list_json(account, &account.trunks[index].sid, &cl);
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The trunk a trunk-credential-list path names, if the list is on it.
fn trunk_list(account: &Account, ctx: &Ctx) -> Result<(usize, String), Refused> {
    let index = trunk_index(account, ctx, "TrunkSid")?;
    let cl = ctx.id("Sid");
    if account.trunks[index].credential_lists.contains(&cl) {
        Ok((index, cl))
    } else {
        Err(Box::new(not_found(&ctx.path)))
    }
}

/// `GET /v1/Trunks/{TrunkSid}/CredentialLists/{Sid}`.
pub(crate) fn fetch_credential_list(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    match trunk_list(account, ctx) {
        Ok((index, cl)) => {
            Json(trunk_list_json(account, &account.trunks[index].sid, &cl)).into_response()
        }
        Err(response) => *response,
    }
}

/// `DELETE /v1/Trunks/{TrunkSid}/CredentialLists/{Sid}`: the list stays on the account.
pub(crate) fn detach_credential_list(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    match trunk_list(account, ctx) {
        Ok((index, cl)) => {
            account.trunks[index].credential_lists.retain(|c| c != &cl);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => *response,
    }
}
