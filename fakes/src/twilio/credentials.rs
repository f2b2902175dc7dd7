//! SIP credential lists and their credentials (REST 2010-04-01), which trunks use to
//! authenticate LiveKit's outbound calls.

use super::{
    new_sid,
    wire::{error, invalid, not_found, Ctx, Refused},
    Account, CredentialList, Owned,
};
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

fn list_json(account: &str, c: &CredentialList) -> Value {
    json!({ "sid": c.sid, "account_sid": account, "friendly_name": c.friendly_name })
}

/// Twilio's rule for SIP credential passwords: 12+ characters with an upper-case letter,
/// a lower-case letter and a digit.
fn strong_password(p: &str) -> bool {
    p.chars().count() >= 12
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_digit())
}

/// `GET …/SIP/CredentialLists.json`.
pub(crate) fn list_lists(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let items = account
        .credential_lists
        .iter()
        .map(|c| list_json(&account.sid, c))
        .collect();
    ctx.page_2010("credential_lists", items)
}

/// `POST …/SIP/CredentialLists.json`.
pub(crate) fn create_list(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let name = ctx.string("FriendlyName").unwrap_or_default();
    if name.chars().count() > 64 {
        return invalid("FriendlyName must be at most 64 characters");
    }
    let list = CredentialList {
        sid: new_sid("CL"),
        friendly_name: name,
        credentials: Vec::new(),
    };
    let body = list_json(&account.sid, &list);
    account.credential_lists.push(list);
    (StatusCode::CREATED, Json(body)).into_response()
}

fn position(account: &Account, sid: &str, ctx: &Ctx) -> Result<usize, Refused> {
    account
        .credential_lists
        .iter()
        .position(|c| c.sid == sid)
        .ok_or_else(|| Box::new(not_found(&ctx.path)))
}

/// `GET …/SIP/CredentialLists/{Sid}.json`.
pub(crate) fn fetch_list(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    match position(account, &ctx.id("Sid"), ctx) {
        Ok(index) => {
            Json(list_json(&account.sid, &account.credential_lists[index])).into_response()
        }
        Err(response) => *response,
    }
}

/// `DELETE …/SIP/CredentialLists/{Sid}.json`: the list also leaves every trunk.
pub(crate) fn delete_list(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let sid = ctx.id("Sid");
    match position(account, &sid, ctx) {
        Ok(index) => {
            account.credential_lists.remove(index);
            for trunk in &mut account.trunks {
                trunk.credential_lists.retain(|c| c != &sid);
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => *response,
    }
}

/// `GET …/SIP/CredentialLists/{CredentialListSid}/Credentials.json` (usernames only:
/// Twilio never returns a password).
pub(crate) fn list_credentials(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let list_sid = ctx.id("CredentialListSid");
    let index = match position(account, &list_sid, ctx) {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let items = account.credential_lists[index]
        .credentials
        .iter()
        .map(|(sid, user)| json!({ "sid": sid, "account_sid": account.sid, "credential_list_sid": list_sid, "username": user }))
        .collect();
    ctx.page_2010("credentials", items)
}

/// `POST …/Credentials.json`: a username at most 32 characters, unique in its list, and a
/// strong password.
pub(crate) fn create_credential(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let list_sid = ctx.id("CredentialListSid");
    let index = match position(account, &list_sid, ctx) {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let username = ctx.string("Username").unwrap_or_default();
    let password = ctx.string("Password").unwrap_or_default();
    if username.chars().count() > 32 {
        return invalid("Username must be at most 32 characters");
    }
    if !strong_password(&password) {
        return invalid("Password must be at least 12 characters long and contain at least one uppercase letter, one lowercase letter and one digit");
    }
    let list = &mut account.credential_lists[index];
    if list.credentials.iter().any(|(_, u)| u == &username) {
        return error(
            StatusCode::CONFLICT,
            21450,
            &format!("A credential with username {username} already exists in this list"),
        );
    }
    let sid = new_sid("CR");
    list.credentials.push((sid.clone(), username.clone()));
    (
        StatusCode::CREATED,
        Json(json!({ "sid": sid, "account_sid": account.sid, "credential_list_sid": list_sid, "username": username })),
    )
        .into_response()
}

/// `DELETE …/Credentials/{Sid}.json`.
pub(crate) fn delete_credential(account: &mut Account, _: &mut Owned, ctx: &Ctx) -> Response {
    let index = match position(account, &ctx.id("CredentialListSid"), ctx) {
        Ok(index) => index,
        Err(response) => return *response,
    };
    let sid = ctx.id("Sid");
    let list = &mut account.credential_lists[index];
    let before = list.credentials.len();
    list.credentials.retain(|(s, _)| s != &sid);
    if list.credentials.len() == before {
        not_found(&ctx.path)
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}
