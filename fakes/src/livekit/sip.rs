//! `livekit.SIP`: inbound and outbound trunks and dispatch rules, with LiveKit's
//! validation (livekit/protocol `livekit/sip.go`) and conflict rules (`dial-sip`).

use super::*;

// ---------------------------------------------------------------------------------------
// Numbers and matching rules (WIRE.md)

/// livekit/protocol `livekit/sip.go`, `SIPInboundTrunkInfo.ValidateResult`: a trunk must
/// have credentials (a user name *or* a password is enough here), allowed addresses or
/// numbers. Allowed addresses are not checked at all; the ones that are not masks are
/// skipped when a call is matched ([`address_allowed`]).
pub(super) fn validate_inbound(t: &proto::SipInboundTrunkInfo) -> Result<(), TwirpError> {
    let has_auth = !t.auth_username.is_empty() || !t.auth_password.is_empty();
    if !has_auth && t.allowed_addresses.is_empty() && t.numbers.is_empty() {
        return Err(TwirpError::invalid(
            "for security, one of the fields must be set: AuthUsername+AuthPassword, AllowedAddresses or Numbers",
        ));
    }
    Ok(())
}

/// Whether a call from `source` passes a trunk's allowed addresses (livekit/protocol
/// `sip/sip.go`, `matchAddrMasks`): entries with spaces, commas, `*`, `+`, brackets, `;`
/// or a scheme are dropped; if none is left, every address passes; otherwise an entry
/// matches when it is the source itself or a CIDR block holding it.
pub(super) fn address_allowed(masks: &[String], source: IpAddr) -> bool {
    let valid: Vec<&String> = masks
        .iter()
        .filter(|m| !m.contains(['(', ')', '+', '*', ';', ',', ' ', '\t', '\n', '\r']))
        .filter(|m| !m.contains("://"))
        .collect();
    valid.is_empty()
        || valid
            .iter()
            .any(|m| m.as_str() == source.to_string() || dial_sip::address_contains(m, source))
}

pub(super) fn validate_outbound(t: &proto::SipOutboundTrunkInfo) -> Result<(), TwirpError> {
    let a = t.address.trim();
    if a.is_empty() {
        return Err(TwirpError::invalid("no trunk address specified"));
    }
    let lower = a.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        return Err(TwirpError::invalid(format!(
            "trunk address should be a hostname or IP, not SIP URI: {a:?}"
        )));
    }
    if a.contains('@') || a.contains(';') || lower.contains("transport=") {
        return Err(TwirpError::invalid(format!(
            "trunk address should be a hostname or IP (without user or parameters): {a:?}"
        )));
    }
    if t.numbers.is_empty() {
        return Err(TwirpError::invalid("no trunk numbers specified"));
    }
    if proto::SipTransport::try_from(t.transport).is_err() {
        return Err(TwirpError::invalid(format!(
            "invalid transport {}",
            t.transport
        )));
    }
    Ok(())
}

impl FakeLiveKit {
    pub(super) fn sip_method(
        &self,
        method: &str,
        body: Body<'_>,
        claims: &Claims,
    ) -> Result<Vec<u8>, TwirpError> {
        let admin = claims.sip.admin;
        let need_admin = || {
            if admin {
                Ok(())
            } else {
                Err(TwirpError::new("unauthenticated", "permissions denied"))
            }
        };
        match method {
            "CreateSIPInboundTrunk" => {
                need_admin()?;
                let req: proto::CreateSipInboundTrunkRequest = body.decode()?;
                let mut trunk = req
                    .trunk
                    .ok_or_else(|| TwirpError::invalid("trunk is required"))?;
                if !trunk.sip_trunk_id.is_empty() {
                    return Err(TwirpError::invalid("trunk ID must be empty"));
                }
                validate_inbound(&trunk)?;
                trunk.sip_trunk_id = id("ST_");
                let mut w = self.lock()?;
                check_inbound_conflict(&trunk, &w.inbound)
                    .map_err(|c| TwirpError::invalid(c.message))?;
                w.inbound.push(trunk.clone());
                body.encode(&trunk)
            }
            "UpdateSIPInboundTrunk" => {
                need_admin()?;
                let req: proto::UpdateSipInboundTrunkRequest = body.decode()?;
                let mut w = self.lock()?;
                let index = w
                    .inbound
                    .iter()
                    .position(|t| t.sip_trunk_id == req.sip_trunk_id)
                    .ok_or_else(|| TwirpError::not_found("requested sip trunk does not exist"))?;
                let mut trunk = w.inbound[index].clone();
                match req.action {
                    Some(proto::update_sip_inbound_trunk_request::Action::Replace(mut t)) => {
                        t.sip_trunk_id = trunk.sip_trunk_id.clone();
                        trunk = t;
                    }
                    Some(proto::update_sip_inbound_trunk_request::Action::Update(u)) => {
                        apply_list(&mut trunk.numbers, u.numbers);
                        apply_list(&mut trunk.allowed_addresses, u.allowed_addresses);
                        apply_list(&mut trunk.allowed_numbers, u.allowed_numbers);
                        if let Some(v) = u.auth_username {
                            trunk.auth_username = v;
                        }
                        if let Some(v) = u.auth_password {
                            trunk.auth_password = v;
                        }
                        if let Some(v) = u.name {
                            trunk.name = v;
                        }
                        if let Some(v) = u.metadata {
                            trunk.metadata = v;
                        }
                    }
                    None => return Err(TwirpError::invalid("action is required")),
                }
                validate_inbound(&trunk)?;
                check_inbound_conflict(&trunk, &w.inbound)
                    .map_err(|c| TwirpError::invalid(c.message))?;
                w.inbound[index] = trunk.clone();
                body.encode(&trunk)
            }
            "GetSIPInboundTrunk" => {
                need_admin()?;
                let req: proto::GetSipInboundTrunkRequest = body.decode()?;
                let w = self.lock()?;
                let trunk = w
                    .inbound
                    .iter()
                    .find(|t| t.sip_trunk_id == req.sip_trunk_id)
                    .cloned()
                    .ok_or_else(|| TwirpError::not_found("requested sip trunk does not exist"))?;
                body.encode(&proto::GetSipInboundTrunkResponse { trunk: Some(trunk) })
            }
            "ListSIPInboundTrunk" => {
                need_admin()?;
                let req: proto::ListSipInboundTrunkRequest = body.decode()?;
                let w = self.lock()?;
                let wanted = normalized_set(&req.numbers);
                let items = w
                    .inbound
                    .iter()
                    .filter(|t| req.trunk_ids.is_empty() || req.trunk_ids.contains(&t.sip_trunk_id))
                    .filter(|t| {
                        wanted.is_empty()
                            || normalized_set(&t.numbers)
                                .iter()
                                .any(|n| wanted.contains(n))
                    })
                    .cloned()
                    .collect();
                body.encode(&proto::ListSipInboundTrunkResponse { items })
            }
            "CreateSIPOutboundTrunk" => {
                need_admin()?;
                let req: proto::CreateSipOutboundTrunkRequest = body.decode()?;
                let mut trunk = req
                    .trunk
                    .ok_or_else(|| TwirpError::invalid("trunk is required"))?;
                if !trunk.sip_trunk_id.is_empty() {
                    return Err(TwirpError::invalid("trunk ID must be empty"));
                }
                validate_outbound(&trunk)?;
                trunk.sip_trunk_id = id("ST_");
                self.lock()?.outbound.push(trunk.clone());
                body.encode(&trunk)
            }
            "UpdateSIPOutboundTrunk" => {
                need_admin()?;
                let req: proto::UpdateSipOutboundTrunkRequest = body.decode()?;
                let mut w = self.lock()?;
                let index = w
                    .outbound
                    .iter()
                    .position(|t| t.sip_trunk_id == req.sip_trunk_id)
                    .ok_or_else(|| TwirpError::not_found("requested sip trunk does not exist"))?;
                let mut trunk = w.outbound[index].clone();
                match req.action {
                    Some(proto::update_sip_outbound_trunk_request::Action::Replace(mut t)) => {
                        t.sip_trunk_id = trunk.sip_trunk_id.clone();
                        trunk = t;
                    }
                    Some(proto::update_sip_outbound_trunk_request::Action::Update(u)) => {
                        if let Some(v) = u.address {
                            trunk.address = v;
                        }
                        if let Some(v) = u.transport {
                            trunk.transport = v;
                        }
                        if let Some(v) = u.destination_country {
                            trunk.destination_country = v;
                        }
                        apply_list(&mut trunk.numbers, u.numbers);
                        if let Some(v) = u.auth_username {
                            trunk.auth_username = v;
                        }
                        if let Some(v) = u.auth_password {
                            trunk.auth_password = v;
                        }
                        if let Some(v) = u.name {
                            trunk.name = v;
                        }
                        if let Some(v) = u.metadata {
                            trunk.metadata = v;
                        }
                    }
                    None => return Err(TwirpError::invalid("action is required")),
                }
                validate_outbound(&trunk)?;
                w.outbound[index] = trunk.clone();
                body.encode(&trunk)
            }
            "GetSIPOutboundTrunk" => {
                need_admin()?;
                let req: proto::GetSipOutboundTrunkRequest = body.decode()?;
                let w = self.lock()?;
                let trunk = w
                    .outbound
                    .iter()
                    .find(|t| t.sip_trunk_id == req.sip_trunk_id)
                    .cloned()
                    .ok_or_else(|| TwirpError::not_found("requested sip trunk does not exist"))?;
                body.encode(&proto::GetSipOutboundTrunkResponse { trunk: Some(trunk) })
            }
            "ListSIPOutboundTrunk" => {
                need_admin()?;
                let req: proto::ListSipOutboundTrunkRequest = body.decode()?;
                let w = self.lock()?;
                let wanted = normalized_set(&req.numbers);
                let items = w
                    .outbound
                    .iter()
                    .filter(|t| req.trunk_ids.is_empty() || req.trunk_ids.contains(&t.sip_trunk_id))
                    .filter(|t| {
                        wanted.is_empty()
                            || normalized_set(&t.numbers)
                                .iter()
                                .any(|n| wanted.contains(n))
                    })
                    .cloned()
                    .collect();
                body.encode(&proto::ListSipOutboundTrunkResponse { items })
            }
            "DeleteSIPTrunk" => {
                need_admin()?;
                let req: proto::DeleteSipTrunkRequest = body.decode()?;
                let mut w = self.lock()?;
                // LiveKit answers success for an unknown id.
                w.inbound.retain(|t| t.sip_trunk_id != req.sip_trunk_id);
                w.outbound.retain(|t| t.sip_trunk_id != req.sip_trunk_id);
                body.encode(&proto::SipTrunkInfo {
                    sip_trunk_id: req.sip_trunk_id,
                    ..Default::default()
                })
            }
            "CreateSIPDispatchRule" => {
                need_admin()?;
                let req: proto::CreateSipDispatchRuleRequest = body.decode()?;
                let mut rule = match req.dispatch_rule {
                    Some(r) => r,
                    // The older flat form of the request.
                    #[allow(deprecated)]
                    None => proto::SipDispatchRuleInfo {
                        rule: req.rule,
                        trunk_ids: req.trunk_ids,
                        hide_phone_number: req.hide_phone_number,
                        inbound_numbers: req.inbound_numbers,
                        name: req.name,
                        metadata: req.metadata,
                        attributes: req.attributes,
                        room_config: req.room_config,
                        ..Default::default()
                    },
                };
                if rule.rule.as_ref().and_then(|r| r.rule.as_ref()).is_none() {
                    return Err(TwirpError::invalid("dispatch rule is required"));
                }
                rule.sip_dispatch_rule_id = id("SDR_");
                let mut w = self.lock()?;
                check_rule_conflict(&rule, &w.rules).map_err(|c| TwirpError::invalid(c.message))?;
                w.rules.push(rule.clone());
                body.encode(&rule)
            }
            "UpdateSIPDispatchRule" => {
                need_admin()?;
                let req: proto::UpdateSipDispatchRuleRequest = body.decode()?;
                let mut w = self.lock()?;
                let index = w
                    .rules
                    .iter()
                    .position(|r| r.sip_dispatch_rule_id == req.sip_dispatch_rule_id)
                    .ok_or_else(|| {
                        TwirpError::not_found("requested dispatch rule does not exist")
                    })?;
                let mut rule = w.rules[index].clone();
                match req.action {
                    Some(proto::update_sip_dispatch_rule_request::Action::Replace(mut r)) => {
                        r.sip_dispatch_rule_id = rule.sip_dispatch_rule_id.clone();
                        rule = r;
                    }
                    Some(proto::update_sip_dispatch_rule_request::Action::Update(u)) => {
                        apply_list(&mut rule.trunk_ids, u.trunk_ids);
                        if let Some(r) = u.rule {
                            rule.rule = Some(r);
                        }
                        if let Some(v) = u.name {
                            rule.name = v;
                        }
                        if let Some(v) = u.metadata {
                            rule.metadata = v;
                        }
                        if !u.attributes.is_empty() {
                            rule.attributes = u.attributes;
                        }
                    }
                    None => return Err(TwirpError::invalid("action is required")),
                }
                if rule.rule.as_ref().and_then(|r| r.rule.as_ref()).is_none() {
                    return Err(TwirpError::invalid("dispatch rule is required"));
                }
                check_rule_conflict(&rule, &w.rules).map_err(|c| TwirpError::invalid(c.message))?;
                w.rules[index] = rule.clone();
                body.encode(&rule)
            }
            "ListSIPDispatchRule" => {
                need_admin()?;
                let req: proto::ListSipDispatchRuleRequest = body.decode()?;
                let w = self.lock()?;
                let items = w
                    .rules
                    .iter()
                    .filter(|r| {
                        req.dispatch_rule_ids.is_empty()
                            || req.dispatch_rule_ids.contains(&r.sip_dispatch_rule_id)
                    })
                    .filter(|r| {
                        req.trunk_ids.is_empty()
                            || r.trunk_ids.iter().any(|t| req.trunk_ids.contains(t))
                    })
                    .cloned()
                    .collect();
                body.encode(&proto::ListSipDispatchRuleResponse { items })
            }
            "DeleteSIPDispatchRule" => {
                need_admin()?;
                let req: proto::DeleteSipDispatchRuleRequest = body.decode()?;
                let mut w = self.lock()?;
                let index = w
                    .rules
                    .iter()
                    .position(|r| r.sip_dispatch_rule_id == req.sip_dispatch_rule_id)
                    .ok_or_else(|| {
                        TwirpError::not_found("requested dispatch rule does not exist")
                    })?;
                let rule = w.rules.remove(index);
                body.encode(&rule)
            }
            _ => Err(TwirpError::new(
                "bad_route",
                format!("unknown method livekit.SIP/{method}"),
            )),
        }
    }
}

pub(super) fn apply_list(target: &mut Vec<String>, update: Option<proto::ListUpdate>) {
    let Some(u) = update else { return };
    if u.clear {
        target.clear();
    }
    if !u.set.is_empty() {
        *target = u.set;
    }
    for add in u.add {
        if !target.contains(&add) {
            target.push(add);
        }
    }
    target.retain(|v| !u.remove.contains(v));
}
