//! The operations the fake implements, with the parameter rules of Twilio's OpenAPI specs
//! (`twilio_api_v2010.json`, `twilio_trunking_v1.json`; vendored in
//! `tests/fixtures/twilio/`, where a test checks this table against them). The router is
//! built from this table: one axum route per path, one method per operation.

use super::{credentials, numbers, trunks, wire::Ctx, Account, Owned};
use axum::response::Response;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    Enum(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn p(name: &'static str, kind: Kind, required: bool) -> Param {
    Param {
        name,
        kind,
        required,
    }
}

/// One operation: method, path template (`{Name:XX}` is a SID with prefix XX,
/// `{Name}` a free segment), and its query (GET) or form (POST) parameters.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub params: &'static [Param],
    /// What the fake does once the request has passed the spec's rules.
    pub(crate) handler: Handler,
}

/// An operation's body: the authenticated account, the numbers every account owns, and
/// the request.
pub(crate) type Handler = fn(&mut Account, &mut Owned, &Ctx) -> Response;

const PAGING: [Param; 3] = [
    p("PageSize", Kind::Int, false),
    p("Page", Kind::Int, false),
    p("PageToken", Kind::Str, false),
];
const TRANSFER_MODE: &[&str] = &["disable-all", "enable-all", "sip-only"];
const TRANSFER_CALLER_ID: &[&str] = &["from-transferee", "from-transferor"];
const HTTP_METHOD: &[&str] = &["GET", "POST"];
const SEARCH: &[Param] = &[
    p("AreaCode", Kind::Int, false),
    p("Contains", Kind::Str, false),
    p("SmsEnabled", Kind::Bool, false),
    p("MmsEnabled", Kind::Bool, false),
    p("VoiceEnabled", Kind::Bool, false),
    p("PageSize", Kind::Int, false),
];
const NUMBER_FIELDS: &[Param] = &[
    p("FriendlyName", Kind::Str, false),
    p("TrunkSid", Kind::Str, false),
    p("VoiceUrl", Kind::Str, false),
    p("VoiceApplicationSid", Kind::Str, false),
    p("VoiceMethod", Kind::Enum(HTTP_METHOD), false),
    p("StatusCallback", Kind::Str, false),
    p("StatusCallbackMethod", Kind::Enum(HTTP_METHOD), false),
    p("VoiceCallerIdLookup", Kind::Bool, false),
];
const BUY_FIELDS: &[Param] = &[
    p("PhoneNumber", Kind::Str, false),
    p("AreaCode", Kind::Str, false),
    p("FriendlyName", Kind::Str, false),
    p("TrunkSid", Kind::Str, false),
    p("VoiceUrl", Kind::Str, false),
    p("VoiceApplicationSid", Kind::Str, false),
    p("VoiceMethod", Kind::Enum(HTTP_METHOD), false),
    p("StatusCallback", Kind::Str, false),
    p("StatusCallbackMethod", Kind::Enum(HTTP_METHOD), false),
    p("VoiceCallerIdLookup", Kind::Bool, false),
    p("AddressSid", Kind::Str, false),
    p("BundleSid", Kind::Str, false),
];
const TRUNK_FIELDS: &[Param] = &[
    p("FriendlyName", Kind::Str, false),
    p("DomainName", Kind::Str, false),
    p("DisasterRecoveryUrl", Kind::Str, false),
    p("DisasterRecoveryMethod", Kind::Enum(HTTP_METHOD), false),
    p("TransferMode", Kind::Enum(TRANSFER_MODE), false),
    p("Secure", Kind::Bool, false),
    p("CnamLookupEnabled", Kind::Bool, false),
    p("TransferCallerId", Kind::Enum(TRANSFER_CALLER_ID), false),
];
const ORIGINATION_FIELDS: &[Param] = &[
    p("Weight", Kind::Int, true),
    p("Priority", Kind::Int, true),
    p("Enabled", Kind::Bool, true),
    p("FriendlyName", Kind::Str, true),
    p("SipUrl", Kind::Str, true),
];
const ORIGINATION_UPDATE: &[Param] = &[
    p("Weight", Kind::Int, false),
    p("Priority", Kind::Int, false),
    p("Enabled", Kind::Bool, false),
    p("FriendlyName", Kind::Str, false),
    p("SipUrl", Kind::Str, false),
];

pub const OPERATIONS: &[Operation] = &[
    Operation { method: "GET", path: "/2010-04-01/Accounts/{Sid:AC}.json", params: &[], handler: numbers::fetch_account },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/AvailablePhoneNumbers/{CountryCode}/Local.json", params: SEARCH, handler: numbers::search_local },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/AvailablePhoneNumbers/{CountryCode}/TollFree.json", params: SEARCH, handler: numbers::search_toll_free },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/AvailablePhoneNumbers/{CountryCode}/Mobile.json", params: SEARCH, handler: numbers::search_mobile },
    Operation {
        method: "GET",
        path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers.json",
        params: &[p("PhoneNumber", Kind::Str, false), p("FriendlyName", Kind::Str, false), PAGING[0], PAGING[1], PAGING[2]], handler: numbers::list },
    Operation { method: "POST", path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers.json", params: BUY_FIELDS, handler: numbers::buy },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers/{Sid:PN}.json", params: &[], handler: numbers::fetch },
    Operation { method: "POST", path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers/{Sid:PN}.json", params: NUMBER_FIELDS, handler: numbers::update },
    Operation { method: "DELETE", path: "/2010-04-01/Accounts/{AccountSid:AC}/IncomingPhoneNumbers/{Sid:PN}.json", params: &[], handler: numbers::release },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists.json", params: &PAGING, handler: credentials::list_lists },
    Operation { method: "POST", path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists.json", params: &[p("FriendlyName", Kind::Str, true)], handler: credentials::create_list },
    Operation { method: "GET", path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{Sid:CL}.json", params: &[], handler: credentials::fetch_list },
    Operation { method: "DELETE", path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{Sid:CL}.json", params: &[], handler: credentials::delete_list },
    Operation {
        method: "GET",
        path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{CredentialListSid:CL}/Credentials.json",
        params: &PAGING, handler: credentials::list_credentials },
    Operation {
        method: "POST",
        path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{CredentialListSid:CL}/Credentials.json",
        params: &[p("Username", Kind::Str, true), p("Password", Kind::Str, true)], handler: credentials::create_credential },
    Operation {
        method: "DELETE",
        path: "/2010-04-01/Accounts/{AccountSid:AC}/SIP/CredentialLists/{CredentialListSid:CL}/Credentials/{Sid:CR}.json",
        params: &[], handler: credentials::delete_credential },
    Operation { method: "GET", path: "/v1/Trunks", params: &PAGING, handler: trunks::list },
    Operation { method: "POST", path: "/v1/Trunks", params: TRUNK_FIELDS, handler: trunks::create },
    Operation { method: "GET", path: "/v1/Trunks/{Sid:TK}", params: &[], handler: trunks::fetch },
    Operation { method: "POST", path: "/v1/Trunks/{Sid:TK}", params: TRUNK_FIELDS, handler: trunks::update },
    Operation { method: "DELETE", path: "/v1/Trunks/{Sid:TK}", params: &[], handler: trunks::delete },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls", params: &PAGING, handler: trunks::list_origination_urls },
    Operation { method: "POST", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls", params: ORIGINATION_FIELDS, handler: trunks::create_origination_url },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls/{Sid:OU}", params: &[], handler: trunks::fetch_origination_url },
    Operation { method: "POST", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls/{Sid:OU}", params: ORIGINATION_UPDATE, handler: trunks::update_origination_url },
    Operation { method: "DELETE", path: "/v1/Trunks/{TrunkSid:TK}/OriginationUrls/{Sid:OU}", params: &[], handler: trunks::delete_origination_url },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/PhoneNumbers", params: &PAGING, handler: trunks::list_numbers },
    Operation { method: "POST", path: "/v1/Trunks/{TrunkSid:TK}/PhoneNumbers", params: &[p("PhoneNumberSid", Kind::Str, true)], handler: trunks::attach_number },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/PhoneNumbers/{Sid:PN}", params: &[], handler: trunks::fetch_number },
    Operation { method: "DELETE", path: "/v1/Trunks/{TrunkSid:TK}/PhoneNumbers/{Sid:PN}", params: &[], handler: trunks::detach_number },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/CredentialLists", params: &PAGING, handler: trunks::list_credential_lists },
    Operation { method: "POST", path: "/v1/Trunks/{TrunkSid:TK}/CredentialLists", params: &[p("CredentialListSid", Kind::Str, true)], handler: trunks::attach_credential_list },
    Operation { method: "GET", path: "/v1/Trunks/{TrunkSid:TK}/CredentialLists/{Sid:CL}", params: &[], handler: trunks::fetch_credential_list },
    Operation { method: "DELETE", path: "/v1/Trunks/{TrunkSid:TK}/CredentialLists/{Sid:CL}", params: &[], handler: trunks::detach_credential_list },
];
