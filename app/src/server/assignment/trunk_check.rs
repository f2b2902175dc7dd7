//! The setup checklist's look at Dial's Twilio Elastic SIP trunk: it exists, originates
//! calls to LiveKit's SIP URI, has a credential list for LiveKit's calls out, and allows
//! transfers. Read-only.

use super::*;
use crate::model::Light;

/// What the trunk check found: its light and words.
pub struct TrunkCheck {
    pub light: Light,
    pub detail: String,
}

pub async fn twilio_trunk_check(state: &AppState) -> TrunkCheck {
    let red = |detail: String| TrunkCheck {
        light: Light::Red,
        detail,
    };
    let settings = match twilio::settings::load(state).await {
        Ok(s) => s,
        Err(e) => return red(e.to_string()),
    };
    let client = match twilio::settings::client(state).await {
        Ok(c) => c,
        Err(e) => return red(e.to_string()),
    };
    let described = |e: crate::server::twilio::TwilioError| {
        twilio::settings::describe(&e, client.account_sid(), client.api_base()).to_string()
    };
    let mut trunk = None;
    if let Some(sid) = settings.trunk_sid.as_deref() {
        match client.fetch_trunk(sid).await {
            Ok(t) => trunk = Some(t),
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return red(described(e)),
        }
    }
    let domain = trunk_domain(&client, &settings);
    if trunk.is_none() {
        match client.list_trunks().await {
            Ok(list) => {
                trunk = list.into_iter().find(|t| {
                    t.domain_name
                        .as_deref()
                        .is_some_and(|d| d.eq_ignore_ascii_case(&domain))
                })
            }
            Err(e) => return red(described(e)),
        }
    }
    let Some(trunk) = trunk else {
        return if settings.auto_trunk {
            TrunkCheck {
                light: Light::Amber,
                detail: format!(
                    "No trunk yet: Dial creates one at {domain} when it first assigns a Twilio number."
                ),
            }
        } else {
            red(format!(
                "The Twilio account has no Elastic SIP trunk at {domain}. Create it in the Twilio console (or turn on “Create the Elastic SIP trunk for me”)."
            ))
        };
    };
    let mut problems = Vec::new();
    let mut light = Light::Green;
    match state
        .config
        .livekit
        .sip_uri
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        None => {
            problems.push(
                "LiveKit's SIP URI is not set, so where the trunk sends calls cannot be checked"
                    .to_string(),
            );
            light = Light::Amber;
        }
        Some(uri) => match client.list_origination_urls(&trunk.sid).await {
            Ok(urls) => {
                let host = uri.trim_start_matches("sip:").to_ascii_lowercase();
                let reaches = urls.iter().any(|u| {
                    u.enabled
                        && u.sip_url
                            .trim_start_matches("sip:")
                            .to_ascii_lowercase()
                            .starts_with(&host)
                });
                if !reaches {
                    problems.push(format!(
                        "it does not send calls to sip:{host} (its origination URIs: {})",
                        if urls.is_empty() {
                            "none".to_string()
                        } else {
                            urls.iter()
                                .map(|u| u.sip_url.clone())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ));
                    light = Light::Red;
                }
            }
            Err(e) => return red(described(e)),
        },
    }
    match client.list_trunk_credential_lists(&trunk.sid).await {
        Ok(lists) if lists.is_empty() => {
            problems
                .push("it has no credential list, so LiveKit's calls out are refused".to_string());
            light = Light::Red;
        }
        Ok(_) => {}
        Err(e) => return red(described(e)),
    }
    let mode = trunk
        .transfer_mode
        .as_deref()
        .and_then(TransferMode::parse)
        .unwrap_or(TransferMode::DisableAll);
    if mode.limits() {
        problems.push(format!(
            "its Call Transfer setting is “{}”, so some transfers are refused",
            mode.as_str()
        ));
        if light == Light::Green {
            light = Light::Amber;
        }
    }
    TrunkCheck {
        light,
        detail: if problems.is_empty() {
            format!(
                "Trunk {} ({}) sends calls to LiveKit, has a credential list and allows transfers.",
                trunk.sid,
                trunk.domain_name.as_deref().unwrap_or(&domain)
            )
        } else {
            format!("Trunk {}: {}.", trunk.sid, problems.join("; "))
        },
    }
}
