//! Phone numbers: the table, buying from Twilio's inventory, importing the account's
//! numbers, labels, allotment to owners, and release. Owners see and change only their
//! own numbers (others' are "not found"); admins see all.
//!
//! Nothing is half-recorded: a purchase that fails at Twilio leaves no row, and a number
//! Twilio sold but Dial failed to record is adopted on the next "Buy" of the same number
//! (Dial first asks Twilio whether the account already has it) or by "Import".

use super::{
    audit::{self, Actor},
    db::is_unique_violation,
    new_id, now,
    state::AppState,
    twilio,
    twilio::{
        BuyNumber, IncomingNumber, NumberSearch, NumberType, TwilioClient, TwilioError,
        UpdateNumber,
    },
};
use crate::{
    error::{AppError, FieldError},
    model::{
        AssignmentStatus, AvailableNumbers, AvailableRow, ImportCandidate, Me, NumberQuery,
        NumberRow, OwnerOption, Page,
    },
    phone::{calling_code, COUNTRIES, E164},
};

pub const PER_PAGE: u32 = 50;

/// Canadian area codes, to tell +1 numbers apart (everything else in +1 is shown as US).
const CANADIAN_AREA_CODES: &[&str] = &[
    "204", "226", "236", "249", "250", "289", "306", "343", "365", "403", "416", "418", "431",
    "437", "438", "450", "506", "514", "519", "548", "579", "581", "587", "604", "613", "639",
    "647", "705", "709", "778", "780", "782", "807", "819", "825", "867", "873", "902", "905",
];

/// The ISO country of an E.164 number, as far as the calling code tells.
pub fn country_of(e164: &str) -> String {
    let digits = e164.trim_start_matches('+');
    if let Some(national) = digits.strip_prefix('1') {
        return if CANADIAN_AREA_CODES.iter().any(|a| national.starts_with(a)) {
            "CA"
        } else {
            "US"
        }
        .to_string();
    }
    crate::phone::COUNTRIES
        .iter()
        .filter(|(_, _, code)| digits.starts_with(code) && *code != "1")
        .max_by_key(|(_, _, code)| code.len())
        .map(|(iso, _, _)| iso.to_string())
        .unwrap_or_default()
}

/// A number row as the numbers table and the assistant's numbers read it ([`SELECT`]).
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: String,
    #[sqlx(try_from = "String")]
    e164: E164,
    label: String,
    country: String,
    voice: i64,
    sms: i64,
    carrier: Option<String>,
    twilio_sid: Option<String>,
    owner_id: Option<String>,
    owner: Option<String>,
    assistant_id: Option<String>,
    assistant: Option<String>,
    routing_profile: Option<String>,
    #[sqlx(try_from = "String")]
    assignment_status: AssignmentStatus,
    created_at: i64,
    released_at: Option<i64>,
    released_by: Option<String>,
}

impl From<Row> for NumberRow {
    fn from(r: Row) -> Self {
        NumberRow {
            id: r.id,
            e164: r.e164,
            label: r.label,
            country: r.country,
            voice: r.voice != 0,
            sms: r.sms != 0,
            carrier: r.carrier.unwrap_or_else(|| "Twilio".into()),
            twilio_sid: r.twilio_sid,
            owner_id: r.owner_id,
            owner: r.owner,
            assistant_id: r.assistant_id,
            assistant: r.assistant,
            routing_profile: r.routing_profile,
            assignment_status: r.assignment_status,
            created_at: r.created_at,
            released_at: r.released_at,
            released_by: r.released_by,
        }
    }
}

pub(crate) const SELECT: &str = "SELECT n.id, n.e164, n.label, n.country, n.voice, n.sms, c.name AS carrier, n.twilio_sid, \
     n.owner_id, u.username AS owner, n.assistant_id, a.name AS assistant, r.name AS routing_profile, n.assignment_status, \
     n.created_at, n.released_at, n.released_by \
     FROM phone_numbers n \
     LEFT JOIN users u ON u.id = n.owner_id \
     LEFT JOIN carriers c ON c.id = n.carrier_id \
     LEFT JOIN assistants a ON a.id = n.assistant_id \
     LEFT JOIN routing_profiles r ON r.id = n.routing_profile_id";

fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{}%", escaped.to_lowercase())
}

/// The numbers table: filtered, sorted and paged in the database.
pub async fn list(
    state: &AppState,
    me: &Me,
    query: &NumberQuery,
) -> Result<Page<NumberRow>, AppError> {
    use super::list::{keyset, Filter, KeyKind, KeysetQuery, Position, Sort, Value};
    let mut filter = Filter::new();
    let released = Released::parse(query.released.as_deref())?;
    match released {
        Released::Excluded => {
            filter.sql("n.released_at IS NULL");
        }
        Released::Only => {
            filter.sql("n.released_at IS NOT NULL");
        }
        Released::Included => {}
    }
    if !me.is_admin() {
        filter.eq("n.owner_id", me.id.clone());
    } else if let Some(owner) = query.owner.as_deref().filter(|o| !o.is_empty()) {
        if owner == "none" {
            filter.sql("n.owner_id IS NULL");
        } else {
            filter.eq("n.owner_id", owner);
        }
    }
    if let Some(text) = query.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            filter.with(
                "LOWER(n.label) LIKE ? ESCAPE '\\'",
                vec![Value::Text(like_pattern(text))],
            );
        } else {
            filter.with(
                "(LOWER(n.label) LIKE ? ESCAPE '\\' OR n.e164 LIKE ? ESCAPE '\\')",
                vec![
                    Value::Text(like_pattern(text)),
                    Value::Text(like_pattern(&digits)),
                ],
            );
        }
    }
    match query.carrier.as_deref().filter(|c| !c.is_empty()) {
        Some("twilio") => {
            filter.sql("n.carrier_id IS NULL");
        }
        Some(carrier) => {
            filter.eq("n.carrier_id", carrier);
        }
        None => {}
    }
    match query.assigned.as_deref() {
        Some("assigned") => {
            filter.sql("n.assistant_id IS NOT NULL");
        }
        Some("unassigned") => {
            filter.sql("n.assistant_id IS NULL");
        }
        _ => {}
    }
    let descending = query.dir.as_deref() == Some("desc");
    // Each sort is a key that is never NULL and the id as tie-breaker, in one direction:
    // a cursor is then one row-value comparison, served by the indexes of migration 0015
    // (the owner's name lives in another table: that sort reads the filtered rows).
    let (name, key, key_kind) = match query.sort.as_deref() {
        Some("label") => ("label", "LOWER(n.label)", KeyKind::Text),
        Some("country") => ("country", "n.country", KeyKind::Text),
        Some("owner") => ("owner", "COALESCE(u.username, '')", KeyKind::Text),
        Some("status") => ("status", "n.assignment_status", KeyKind::Text),
        Some("created") => ("created", "n.created_at", KeyKind::Int),
        Some("released") => ("released", "COALESCE(n.released_at, 0)", KeyKind::Int),
        _ => ("number", "n.e164", KeyKind::Text),
    };
    let name = format!("{name}.{}", if descending { "desc" } else { "asc" });
    let list = KeysetQuery {
        select: SELECT,
        from: "FROM phone_numbers n",
        sort: Sort {
            name: &name,
            key,
            key_kind,
            id: "n.id",
            id_kind: KeyKind::Text,
            descending,
        },
        per_page: PER_PAGE,
    };
    let position = Position::from_query(
        &list.sort,
        query.after.as_deref(),
        query.before.as_deref(),
        query.page,
    )?;
    let page: Page<Row> = keyset(&state.db.pool, &list, &filter, &position, query.page).await?;
    Ok(Page {
        items: page.items.into_iter().map(NumberRow::from).collect(),
        page: page.page,
        per_page: page.per_page,
        total: page.total,
        total_more: page.total_more,
        next: page.next,
        prev: page.prev,
    })
}

/// Which numbers a list shows: by default only live ones; released numbers when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Released {
    Excluded,
    Only,
    Included,
}

impl Released {
    fn parse(value: Option<&str>) -> Result<Released, AppError> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None | Some("false") => Ok(Released::Excluded),
            Some("only") => Ok(Released::Only),
            Some("include" | "true") => Ok(Released::Included),
            Some(_) => Err(AppError::invalid(
                "released",
                "Use released=true (live and released numbers), released=only or released=false.",
            )),
        }
    }
}

/// One live number the user may see (others' numbers are "not found"). Everything that
/// changes a number reads it through here, so a released number cannot be changed.
pub async fn get(state: &AppState, me: &Me, id: &str) -> Result<NumberRow, AppError> {
    visible(state, me, id, "AND n.released_at IS NULL").await
}

/// One number the user may see, live or released (its page shows a released number
/// read-only, and calls keep linking to it).
pub async fn find(state: &AppState, me: &Me, id: &str) -> Result<NumberRow, AppError> {
    visible(state, me, id, "").await
}

async fn visible(
    state: &AppState,
    me: &Me,
    id: &str,
    condition: &'static str,
) -> Result<NumberRow, AppError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE n.id = $1 {condition}"))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    let row = row.ok_or_else(|| AppError::not_found("That phone number"))?;
    if !me.is_admin() && row.owner_id.as_deref() != Some(me.id.as_str()) {
        return Err(AppError::not_found("That phone number"));
    }
    Ok(row.into())
}

async fn live_by_e164(state: &AppState, e164: &str) -> Result<Option<(String, String)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, label FROM phone_numbers WHERE e164 = $1 AND released_at IS NULL",
    )
    .bind(e164)
    .fetch_optional(&state.db.pool)
    .await?)
}

/// The id of the live number `e164` (any format `E164::parse` reads), if Dial has it.
pub async fn id_of(state: &AppState, e164: &str) -> Result<Option<String>, AppError> {
    let Ok(number) = E164::parse(e164, None) else {
        return Ok(None);
    };
    Ok(live_by_e164(state, number.as_str())
        .await?
        .map(|(id, _)| id))
}

/// The id of `e164` as the user knows it: the live number, or else the one they (or, for
/// an admin, anyone) released last. Used to name a number by E.164, so a released one is
/// refused for what it is instead of being unknown.
pub async fn id_in_history(
    state: &AppState,
    me: &Me,
    e164: &str,
) -> Result<Option<String>, AppError> {
    if let Some(id) = id_of(state, e164).await? {
        return Ok(Some(id));
    }
    let Ok(number) = E164::parse(e164, None) else {
        return Ok(None);
    };
    let released: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM phone_numbers WHERE e164 = $1 AND released_at IS NOT NULL \
         AND (owner_id = $2 OR $3 = 1) ORDER BY released_at DESC, id LIMIT 1",
    )
    .bind(number.as_str())
    .bind(me.id.as_str())
    .bind(i64::from(me.is_admin()))
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(released.map(|(id,)| id))
}

fn twilio_error(state: &AppState, client: &TwilioClient, err: &TwilioError) -> AppError {
    twilio::settings::describe(err, client.account_sid(), &state.config.twilio_api_base)
}

fn label_of(field: &str, label: &str) -> Result<String, AppError> {
    let label = label.trim();
    if label.chars().count() > 64 {
        return Err(AppError::invalid(
            field,
            "A label is at most 64 characters.",
        ));
    }
    Ok(label.to_string())
}

/// Search Twilio's inventory; when nothing matches, say why in terms of what was asked.
pub async fn search(
    state: &AppState,
    country: &str,
    kind: &str,
    area_code: &str,
    contains: &str,
    voice: bool,
    sms: bool,
) -> Result<AvailableNumbers, AppError> {
    let mut errors = Vec::new();
    let country = country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        errors.push(FieldError::new("country", "Choose a country."));
    }
    let kind = match kind {
        "local" | "" => Some(NumberType::Local),
        "toll_free" => Some(NumberType::TollFree),
        "mobile" => Some(NumberType::Mobile),
        _ => {
            errors.push(FieldError::new(
                "kind",
                "Choose local, toll-free or mobile.",
            ));
            None
        }
    };
    let area_code = area_code.trim();
    let area = if area_code.is_empty() {
        None
    } else if area_code.len() == 3
        && area_code.chars().all(|c| c.is_ascii_digit())
        && calling_code(&country) == Some("1")
    {
        area_code.parse::<u32>().ok()
    } else {
        errors.push(FieldError::new(
            "area_code",
            "An area code is 3 digits, and only the US and Canada have them.",
        ));
        None
    };
    let contains = contains.trim();
    if !contains
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '*')
        || contains.len() > 16
    {
        errors.push(FieldError::new(
            "contains",
            "Use digits (letters map to the keypad) and * for any one digit.",
        ));
    }
    let (Some(kind), true) = (kind, errors.is_empty()) else {
        return Err(AppError::Invalid { errors });
    };
    let client = twilio::settings::client(state).await?;
    let search = NumberSearch {
        area_code: area,
        contains: (!contains.is_empty()).then(|| contains.to_string()),
        voice_enabled: voice.then_some(true),
        sms_enabled: sms.then_some(true),
        page_size: Some(30),
    };
    let found = client
        .search_available(&country, kind, &search)
        .await
        .map_err(|e| twilio_error(state, &client, &e))?;
    let numbers: Vec<AvailableRow> = found
        .into_iter()
        .map(|n| AvailableRow {
            e164: n.phone_number,
            locality: n.locality.unwrap_or_default(),
            region: n.region.unwrap_or_default(),
            country: n.iso_country,
            voice: n.capabilities.voice,
            sms: n.capabilities.sms,
        })
        .collect();
    let none_found = numbers.is_empty().then(|| {
        let asked = Asked {
            country: &country,
            kind,
            area_code: area_code.to_string(),
            contains: contains.to_string(),
            sms,
        };
        let sandbox = state
            .sandbox()
            .is_some()
            .then(dial_fakes::twilio::inventory_kinds);
        none_found(&asked, sandbox.as_deref())
    });
    Ok(AvailableNumbers {
        numbers,
        none_found,
    })
}

/// What a search asked for, as the user entered it.
struct Asked<'a> {
    country: &'a str,
    kind: NumberType,
    area_code: String,
    contains: String,
    sms: bool,
}

fn kind_words(kind: &str) -> &'static str {
    match kind {
        "TollFree" => "toll-free",
        "Mobile" => "mobile",
        _ => "local",
    }
}

/// "the United States", "Germany": a country's name as it reads in a sentence.
fn country_words(iso: &str) -> String {
    match COUNTRIES.iter().find(|(code, _, _)| *code == iso) {
        Some((code, name, _)) if matches!(*code, "US" | "GB" | "NL") => format!("the {name}"),
        Some((_, name, _)) => (*name).to_string(),
        None => iso.to_string(),
    }
}

/// Why a search found nothing, naming only the filters the user set (area code,
/// contains, SMS); with none set, it is the account that has no such numbers there. In
/// the sandbox that is the simulated account, and the message says what it does sell.
fn none_found(asked: &Asked<'_>, sandbox: Option<&[(&str, Vec<&str>)]>) -> String {
    let kind = kind_words(asked.kind.path());
    let place = country_words(asked.country);
    let mut filters = Vec::new();
    let mut tries = Vec::new();
    if !asked.area_code.is_empty() {
        filters.push(format!("with area code {}", asked.area_code));
        tries.push("another area code");
    }
    if !asked.contains.is_empty() {
        filters.push(format!("containing \u{201c}{}\u{201d}", asked.contains));
        tries.push("fewer digits in \u{201c}Contains\u{201d}");
    }
    if asked.sms {
        filters.push("with SMS".to_string());
        tries.push("a search without SMS");
    }
    if !filters.is_empty() {
        return format!(
            "Twilio has no {kind} numbers in {place} {}. Try {}.",
            join_words(&filters, "and"),
            join_words(&tries, "or")
        );
    }
    match sandbox {
        Some(inventory) => {
            let sells: Vec<String> = inventory
                .iter()
                .map(|(iso, kinds)| {
                    let kinds: Vec<&str> = kinds.iter().map(|k| kind_words(k)).collect();
                    format!("{} ({})", country_words(iso), kinds.join(", "))
                })
                .collect();
            format!(
                "The sandbox's simulated Twilio account has no {kind} numbers in {place}. It sells numbers in {}.",
                join_words(&sells, "and")
            )
        }
        None => format!(
            "Twilio has no {kind} numbers in {place} for this account. Try another type of number, or another country."
        ),
    }
}

/// "a", "a and b", "a, b and c".
fn join_words<S: AsRef<str>>(items: &[S], last: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., end] => format!(
            "{} {last} {}",
            init.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            end.as_ref()
        ),
    }
}

/// A number on the Twilio account as Dial records it.
struct NewNumber<'a> {
    owner: Option<&'a str>,
    e164: &'a str,
    label: &'a str,
    country: &'a str,
    voice: bool,
    sms: bool,
    sid: &'a str,
}

/// What the audit log says about a recorded number.
struct Recorded<'a> {
    actor: &'a Actor,
    action: &'a str,
    detail: String,
}

/// Records the number and its audit row in one transaction. `None` when a live number
/// with that E.164 is already recorded (another request or instance got there first).
async fn record(
    state: &AppState,
    number: &NewNumber<'_>,
    audit_row: Recorded<'_>,
) -> Result<Option<String>, AppError> {
    let id = new_id();
    let at = now();
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO phone_numbers (id, e164, label, country, voice, sms, twilio_sid, owner_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&id)
    .bind(number.e164)
    .bind(number.label)
    .bind(number.country)
    .bind(i64::from(number.voice))
    .bind(i64::from(number.sms))
    .bind(number.sid)
    .bind(number.owner.map(str::to_string))
    .bind(at)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    audit::record_on(
        &mut *tx,
        audit_row.actor,
        audit_row.action,
        Some(number.e164),
        Some(&audit_row.detail),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

async fn check_owner(state: &AppState, owner_id: &str) -> Result<String, AppError> {
    let name: Option<String> =
        sqlx::query_scalar("SELECT username FROM users WHERE id = $1 AND disabled = 0")
            .bind(owner_id)
            .fetch_optional(&state.db.pool)
            .await?;
    name.ok_or_else(|| AppError::invalid("owner", "Choose an active user as the owner."))
}

/// Buys `e164` at Twilio and records it for its owner (the buyer, or the owner an admin
/// chose). If the account already has the number (a purchase that was not recorded), it
/// is recorded without buying it again.
pub async fn buy(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    e164: &str,
    label: &str,
    owner_id: Option<&str>,
) -> Result<NumberRow, AppError> {
    let number = E164::parse(e164, None).map_err(|m| AppError::invalid("e164", m))?;
    let label = label_of("label", label)?;
    let owner = match owner_id.filter(|o| !o.is_empty()) {
        Some(o) if o != me.id => {
            if !me.is_admin() {
                return Err(AppError::Forbidden);
            }
            check_owner(state, o).await?;
            o.to_string()
        }
        _ => me.id.clone(),
    };
    if let Some((_, existing_label)) = live_by_e164(state, number.as_str()).await? {
        let named = if existing_label.is_empty() {
            String::new()
        } else {
            format!(" (\u{201c}{existing_label}\u{201d})")
        };
        return Err(AppError::conflict(format!(
            "{} is already in Dial{named}.",
            number.formatted()
        )));
    }
    let client = twilio::settings::client(state).await?;
    let status_callback = twilio::webhooks::status_callback_url(state).await?;
    let existing = client
        .find_incoming_number(number.as_str())
        .await
        .map_err(|e| twilio_error(state, &client, &e))?;
    let (bought, adopted) = match existing {
        // Adopting a number the account already has is an admin's act (Import, or Buy by
        // an admin): an owner's Buy must not take over a number nobody gave them.
        Some(_) if !me.is_admin() => {
            return Err(AppError::conflict(format!(
                "{} is already on the Twilio account, so there is nothing to buy. Ask an administrator to import it and allot it to you.",
                number.formatted()
            )))
        }
        Some(n) => (n, true),
        None => {
            let buy = BuyNumber {
                phone_number: Some(number.as_str().to_string()),
                friendly_name: Some(if label.is_empty() {
                    number.as_str().to_string()
                } else {
                    label.clone()
                }),
                status_callback: status_callback.clone(),
                ..Default::default()
            };
            match client.buy_number(&buy).await {
                Ok(n) => (n, false),
                Err(e) if matches!(e.code(), Some(21631 | 21649)) => {
                    return Err(AppError::conflict(format!(
                        "Twilio sells {} only to an account with an address and an approved regulatory bundle for {} (Twilio error {}). Create them in the Twilio console under Phone Numbers → Regulatory Compliance, buy the number there, then add it here with \u{201c}Import from Twilio\u{201d}.",
                        number.formatted(),
                        crate::phone::COUNTRIES
                            .iter()
                            .find(|(iso, _, _)| *iso == country_of(number.as_str()))
                            .map(|(_, name, _)| name.to_string())
                            .unwrap_or_else(|| "its country".into()),
                        e.code().unwrap_or_default()
                    )))
                }
                Err(e) if e.code() == Some(21422) => {
                    return Err(AppError::conflict(format!(
                        "{} is no longer available at Twilio — someone bought it meanwhile. Search again for another number.",
                        number.formatted()
                    )))
                }
                Err(e) => return Err(twilio_error(state, &client, &e)),
            }
        }
    };
    // A number bought earlier (outside Dial, or not recorded) gets the callback now,
    // before it is recorded, so the audit row can say how that went.
    let callback_note = if adopted {
        set_status_callback(&client, &bought, status_callback.as_deref()).await
    } else {
        None
    };
    let mut detail = if adopted {
        format!(
            "{} (already on the Twilio account; recorded without buying again)",
            bought.sid
        )
    } else {
        bought.sid.clone()
    };
    if let Some(note) = callback_note {
        detail.push_str(&format!(" ({note})"));
    }
    let country = country_of(number.as_str());
    let new = NewNumber {
        owner: Some(&owner),
        e164: number.as_str(),
        label: &label,
        country: &country,
        voice: bought.capabilities.voice,
        sms: bought.capabilities.sms,
        sid: &bought.sid,
    };
    let action = if adopted {
        "number.recorded"
    } else {
        "number.bought"
    };
    let recorded = record(
        state,
        &new,
        Recorded {
            actor,
            action,
            detail,
        },
    )
    .await;
    let id = match recorded {
        Ok(Some(id)) => id,
        Ok(None) | Err(_) => {
            if let Err(e) = &recorded {
                tracing::error!(error = %e, number = %number, sid = %bought.sid, "Twilio sold a number that Dial could not record");
            }
            return Err(AppError::conflict(format!(
                "Twilio sold this account {}, but Dial could not record it. Nothing is lost: buy it again or use \u{201c}Import from Twilio\u{201d}, and Dial will add it without buying it twice.",
                number.formatted()
            )));
        }
    };
    get(state, me, &id).await
}

/// The account's numbers Dial does not manage yet.
pub async fn import_candidates(state: &AppState) -> Result<Vec<ImportCandidate>, AppError> {
    let client = twilio::settings::client(state).await?;
    let numbers = client
        .list_incoming_numbers()
        .await
        .map_err(|e| twilio_error(state, &client, &e))?;
    let managed: Vec<(Option<String>, String)> =
        sqlx::query_as("SELECT twilio_sid, e164 FROM phone_numbers WHERE released_at IS NULL")
            .fetch_all(&state.db.pool)
            .await?;
    Ok(numbers
        .into_iter()
        .filter(|n| {
            !managed.iter().any(|(sid, e164)| {
                sid.as_deref() == Some(n.sid.as_str()) || e164 == &n.phone_number
            })
        })
        .map(|n| ImportCandidate {
            sid: n.sid,
            e164: n.phone_number,
            friendly_name: n.friendly_name,
        })
        .collect())
}

/// Points an account number's status callback at Dial (when a public URL is configured
/// and the number does not already use it). Best effort: a failure is logged and returned
/// as a note for the audit log, and the number is managed all the same.
/// Points a Twilio number's call status callback at Dial again (a drift repair).
pub async fn restore_status_callback(state: &AppState, sid: &str) -> Result<(), AppError> {
    let client = twilio::settings::client(state).await?;
    let Some(url) = twilio::webhooks::status_callback_url(state).await? else {
        return Err(AppError::conflict(
            "Dial has no public URL for Twilio's callbacks: set DIAL_PUBLIC_URL or the Twilio page's public URL first.",
        ));
    };
    let update = UpdateNumber {
        status_callback: Some(url),
        ..Default::default()
    };
    client
        .update_number(sid, &update)
        .await
        .map_err(|e| twilio_error(state, &client, &e))?;
    Ok(())
}

async fn set_status_callback(
    client: &TwilioClient,
    number: &IncomingNumber,
    url: Option<&str>,
) -> Option<String> {
    let url = url?;
    if number.status_callback.as_deref() == Some(url) {
        return None;
    }
    let update = UpdateNumber {
        status_callback: Some(url.to_string()),
        ..Default::default()
    };
    match client.update_number(&number.sid, &update).await {
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(sid = %number.sid, error = %e, "could not set a number's status callback at Twilio");
            Some("status callback not set at Twilio".to_string())
        }
    }
}

/// Twilio names a number after itself by default ("(212) 555-0120"); that is not a label.
fn is_default_name(friendly_name: &str, e164: &str) -> bool {
    let digits: String = friendly_name
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let only_number = friendly_name
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    friendly_name.is_empty() || (only_number && !digits.is_empty() && e164.ends_with(&digits))
}

/// Imports one account number (by SID) or all of them; numbers already managed are
/// skipped, so importing twice changes nothing. Imported numbers have no owner until an
/// admin allots them. Returns how many were added.
pub async fn import(state: &AppState, actor: &Actor, sid: Option<&str>) -> Result<u32, AppError> {
    let client = twilio::settings::client(state).await?;
    let status_callback = twilio::webhooks::status_callback_url(state).await?;
    let numbers = client
        .list_incoming_numbers()
        .await
        .map_err(|e| twilio_error(state, &client, &e))?;
    let chosen: Vec<_> = numbers
        .into_iter()
        .filter(|n| sid.is_none_or(|s| s == n.sid))
        .collect();
    if let (Some(s), true) = (sid, chosen.is_empty()) {
        return Err(AppError::not_found(format!("Twilio number {s}")));
    }
    let mut added = 0;
    for n in chosen {
        if live_by_e164(state, &n.phone_number).await?.is_some() {
            continue;
        }
        let label = if is_default_name(&n.friendly_name, &n.phone_number) {
            String::new()
        } else {
            n.friendly_name.clone()
        };
        let callback_note = set_status_callback(&client, &n, status_callback.as_deref()).await;
        let detail = match callback_note {
            Some(note) => format!("{} ({note})", n.sid),
            None => n.sid.clone(),
        };
        let country = country_of(&n.phone_number);
        let new = NewNumber {
            owner: None,
            e164: &n.phone_number,
            label: &label,
            country: &country,
            voice: n.capabilities.voice,
            sms: n.capabilities.sms,
            sid: &n.sid,
        };
        let audit_row = Recorded {
            actor,
            action: "number.imported",
            detail,
        };
        if record(state, &new, audit_row).await?.is_some() {
            added += 1;
        }
    }
    Ok(added)
}

/// A new label, here and as the number's friendly name at Twilio.
pub async fn set_label(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
    label: &str,
) -> Result<NumberRow, AppError> {
    let number = get(state, me, id).await?;
    let label = label_of("label", label)?;
    if let Some(sid) = &number.twilio_sid {
        let client = twilio::settings::client(state).await?;
        let update = UpdateNumber {
            friendly_name: Some(if label.is_empty() {
                number.e164.to_string()
            } else {
                label.clone()
            }),
            ..Default::default()
        };
        client
            .update_number(sid, &update)
            .await
            .map_err(|e| twilio_error(state, &client, &e))?;
    }
    // The change and its audit row commit together.
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE phone_numbers SET label = $1, updated_at = $2 WHERE id = $3")
        .bind(&label)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "number.labelled",
        Some(number.e164.as_str()),
        Some(&format!(
            "\u{201c}{}\u{201d} → \u{201c}{label}\u{201d}",
            number.label
        )),
    )
    .await?;
    tx.commit().await?;
    get(state, me, id).await
}

/// Admins give a number to an owner.
pub async fn allot(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
    owner_id: &str,
) -> Result<NumberRow, AppError> {
    if !me.is_admin() {
        return Err(AppError::Forbidden);
    }
    let number = get(state, me, id).await?;
    let owner = check_owner(state, owner_id).await?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE phone_numbers SET owner_id = $1, updated_at = $2 WHERE id = $3")
        .bind(owner_id)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record_on(
        &mut *tx,
        actor,
        "number.allotted",
        Some(number.e164.as_str()),
        Some(&format!("to {owner}")),
    )
    .await?;
    tx.commit().await?;
    get(state, me, id).await
}

/// Releases a number at Twilio and keeps it in Dial's history as released (when and by
/// whom). Refused while an assistant answers it. Returns the released number.
pub async fn release(
    state: &AppState,
    me: &Me,
    actor: &Actor,
    id: &str,
) -> Result<NumberRow, AppError> {
    let number = get(state, me, id).await?;
    if number.assistant_id.is_some() {
        return Err(AppError::conflict(format!(
            "{} is assigned to an assistant. Unassign it first, so its calls are not cut off, then release it.",
            number.e164.formatted()
        )));
    }
    if let Some(sid) = &number.twilio_sid {
        let client = twilio::settings::client(state).await?;
        match client.release_number(sid).await {
            Ok(()) => {}
            // Already gone from the account: nothing left to release there.
            Err(TwilioError::Api(e)) if e.status == 404 => {}
            Err(e) => return Err(twilio_error(state, &client, &e)),
        }
    }
    let mut tx = state.db.begin_write().await?;
    // `released_at IS NULL`: of two releases at once, only one records itself.
    let released = sqlx::query(
        "UPDATE phone_numbers SET released_at = $1, released_by = $2, assignment_status = 'released', \
         updated_at = $1 WHERE id = $3 AND released_at IS NULL",
    )
    .bind(now())
    .bind(actor.username.clone())
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if released == 0 {
        return Err(AppError::not_found("That phone number"));
    }
    audit::record_on(
        &mut *tx,
        actor,
        "number.released",
        Some(number.e164.as_str()),
        number.twilio_sid.as_deref(),
    )
    .await?;
    tx.commit().await?;
    find(state, me, id).await
}

/// Users a number can be allotted to.
pub async fn owner_options(state: &AppState) -> Result<Vec<OwnerOption>, AppError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, username FROM users WHERE disabled = 0 ORDER BY username")
            .fetch_all(&state.db.pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, username)| OwnerOption { id, username })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_from_calling_codes() {
        assert_eq!(country_of("+14155550100"), "US");
        assert_eq!(country_of("+14165550100"), "CA");
        assert_eq!(country_of("+442079460000"), "GB");
        assert_eq!(country_of("+35312345678"), "IE");
        assert_eq!(country_of("+99912345678"), "");
    }

    #[test]
    fn twilios_default_names_are_not_labels() {
        assert!(is_default_name("(212) 555-0120", "+12125550120"));
        assert!(is_default_name("+12125550120", "+12125550120"));
        assert!(!is_default_name("Support line", "+12125550120"));
        assert!(!is_default_name("(212) 555-9999", "+12125550120"));
    }

    #[test]
    fn an_empty_search_names_only_what_was_asked() {
        let asked = |country, kind, area: &str, contains: &str, sms| Asked {
            country,
            kind,
            area_code: area.into(),
            contains: contains.into(),
            sms,
        };
        assert_eq!(
            none_found(&asked("US", NumberType::Local, "415", "", false), None),
            "Twilio has no local numbers in the United States with area code 415. Try another area code."
        );
        assert_eq!(
            none_found(&asked("GB", NumberType::Mobile, "", "999", true), None),
            "Twilio has no mobile numbers in the United Kingdom containing \u{201c}999\u{201d} and with SMS. \
             Try fewer digits in \u{201c}Contains\u{201d} or a search without SMS."
        );
        let nothing = none_found(&asked("DE", NumberType::Local, "", "", false), None);
        assert_eq!(
            nothing,
            "Twilio has no local numbers in Germany for this account. Try another type of number, or another country."
        );
        assert!(!nothing.contains("area code") && !nothing.contains("digits"));
        let sandbox = dial_fakes::twilio::inventory_kinds();
        assert_eq!(
            none_found(&asked("DE", NumberType::Local, "", "", false), Some(&sandbox)),
            "The sandbox's simulated Twilio account has no local numbers in Germany. It sells numbers in \
             the United States (local, toll-free), Canada (local, toll-free) and the United Kingdom (local, toll-free, mobile)."
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off"), "%50\\%\\_off%");
    }
}
