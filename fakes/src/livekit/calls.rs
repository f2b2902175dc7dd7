//! SIP calls: outbound calls placed by CreateSIPParticipant, inbound calls simulated from
//! a carrier, their status sequences, transfers and hang-ups.

use super::*;

impl FakeLiveKit {
    pub(super) fn set_status(
        &self,
        room: &str,
        identity: &str,
        status: &str,
    ) -> Option<(proto::Room, proto::ParticipantInfo)> {
        let mut w = self.world.lock().ok()?;
        if let Some(call) = w
            .calls
            .iter_mut()
            .find(|c| c.room == room && c.identity == identity && !c.ended)
        {
            call.status = status.to_string();
        }
        let r = w.rooms.get_mut(room)?;
        let p = r.participants.iter_mut().find(|p| p.identity == identity)?;
        p.attributes
            .insert("sip.callStatus".into(), status.to_string());
        if status == "active" {
            p.state = participant_info::State::Active as i32;
        }
        Some((r.room.clone(), p.clone()))
    }

    /// Sets one attribute of a participant (no webhook: LiveKit sends none for it).
    pub(super) fn set_attribute(&self, room: &str, identity: &str, key: &str, value: &str) {
        let Ok(mut w) = self.world.lock() else { return };
        if let Some(p) = w
            .rooms
            .get_mut(room)
            .and_then(|r| r.participants.iter_mut().find(|p| p.identity == identity))
        {
            p.attributes.insert(key.to_string(), value.to_string());
        }
    }

    /// The address of the trunk a call went out through.
    fn trunk_address_of(&self, room: &str, identity: &str) -> Option<String> {
        let w = self.world.lock().ok()?;
        let call = w
            .calls
            .iter()
            .find(|c| c.room == room && c.identity == identity)?;
        w.outbound
            .iter()
            .find(|t| t.sip_trunk_id == call.trunk_id)
            .map(|t| t.address.clone())
    }

    /// Ends a SIP participant's call: removed from the room, `participant_left` with the
    /// reason. The room stays for its `departure_timeout` (`rooms.rs`).
    ///
    /// The SIP participant joins the room (and so is connected) before the INVITE is
    /// sent, so it always leaves with `participant_left`, never
    /// `participant_connection_aborted` (livekit/livekit `pkg/telemetry/events.go`).
    /// `sip.callStatus` becomes `hangup` only for a call that ends by BYE, the API or its
    /// maximum duration; a rejected or unanswered call keeps `dialing`/`ringing`
    /// (livekit/sip `pkg/sip/participant.go`, `CallStatus.Attribute`). The reason is what
    /// livekit-server keeps of the bridge's (`pkg/rtc/signalling/signalhandler.go`: only
    /// CLIENT_INITIATED, USER_UNAVAILABLE, USER_REJECTED and AGENT_ERROR survive).
    pub(super) fn end_call(&self, room: &str, identity: &str, reason: proto::DisconnectReason) {
        // A BYE from either side, or the participant or room removed through the API (the
        // bridge then hangs up): `hangup`.
        let hung_up = matches!(
            reason,
            proto::DisconnectReason::ClientInitiated
                | proto::DisconnectReason::ParticipantRemoved
                | proto::DisconnectReason::RoomDeleted
        );
        self.end_call_as(room, identity, reason, hung_up);
    }

    /// [`end_call`](Self::end_call), saying whether the call's status becomes `hangup`
    /// (a call the carrier dropped leaves with CLIENT_INITIATED but keeps its status).
    pub(super) fn end_call_as(
        &self,
        room: &str,
        identity: &str,
        reason: proto::DisconnectReason,
        hung_up: bool,
    ) {
        let removed = {
            let Ok(mut w) = self.world.lock() else { return };
            if let Some(call) = w
                .calls
                .iter_mut()
                .find(|c| c.room == room && c.identity == identity && !c.ended)
            {
                if hung_up {
                    call.status = "hangup".into();
                }
                call.ended = true;
            }
            let Some(r) = w.rooms.get_mut(room) else {
                return;
            };
            let Some(index) = r.participants.iter().position(|p| p.identity == identity) else {
                return;
            };
            let mut p = r.participants.remove(index);
            if hung_up {
                p.attributes
                    .insert("sip.callStatus".into(), "hangup".into());
            }
            p.state = participant_info::State::Disconnected as i32;
            p.disconnect_reason = reason as i32;
            let room_info = r.room.clone();
            self.left(&mut w, room);
            Some((room_info, p))
        };
        if let Some((room_info, p)) = removed {
            self.emit("participant_left", &room_info, Some(&p));
        }
    }

    /// The SIP participant's own audio track, published right after it joins — before the
    /// 200 OK inbound, before the INVITE outbound (livekit/sip `pkg/sip/inbound.go` and
    /// `outbound.go`, `publishTrack`), so it says nothing about an answer.
    fn publish_sip_track(&self, room: &proto::Room, participant: &proto::ParticipantInfo) {
        let track = proto::TrackInfo {
            sid: id("TR_"),
            r#type: proto::TrackType::Audio as i32,
            name: "sip-audio".into(),
            source: proto::TrackSource::Microphone as i32,
            ..Default::default()
        };
        self.emit_track("track_published", room, participant, &track);
    }

    // -- Inbound calls --------------------------------------------------------------------

    /// "A call arrives for `to` from `from`" (from the carrier at `source`): runs LiveKit's
    /// matching and, when it routes, creates the room, the SIP participant and the agent
    /// dispatches, and sends the webhooks.
    pub fn simulate_inbound(
        &self,
        to: &str,
        from: &str,
        source: IpAddr,
        pin: Option<&str>,
        twilio_call_sid: Option<&str>,
    ) -> Result<InboundRouted, InboundRejected> {
        let answers_after = self
            .world
            .lock()
            .ok()
            .and_then(|w| w.timing.agent_answers_after);
        self.simulate_inbound_answered_after(to, from, source, pin, twilio_call_sid, answers_after)
    }

    /// [`simulate_inbound`](Self::simulate_inbound), with this call's agent answering after
    /// `answers_after` (`None`: it rings until [`agent_answers`](Self::agent_answers)).
    pub fn simulate_inbound_answered_after(
        &self,
        to: &str,
        from: &str,
        source: IpAddr,
        pin: Option<&str>,
        twilio_call_sid: Option<&str>,
        answers_after: Option<Duration>,
    ) -> Result<InboundRouted, InboundRejected> {
        let to_n = normalize_number(to);
        let from_n = normalize_number(from);
        let (room, participant, routed, created) = {
            let mut w = self.world.lock().map_err(|_| InboundRejected::NoTrunk {
                to: to_n.clone(),
                from: from_n.clone(),
            })?;
            // Trunks that accept the call; a trunk naming the number beats a wildcard one.
            let accepts = |t: &proto::SipInboundTrunkInfo| {
                let number_ok = t.numbers.is_empty() || normalized_set(&t.numbers).contains(&to_n);
                let address_ok = address_allowed(&t.allowed_addresses, source);
                let caller_ok = t.allowed_numbers.is_empty()
                    || normalized_set(&t.allowed_numbers).contains(&from_n);
                number_ok && address_ok && caller_ok
            };
            let candidates: Vec<&proto::SipInboundTrunkInfo> =
                w.inbound.iter().filter(|t| accepts(t)).collect();
            let specific: Vec<&proto::SipInboundTrunkInfo> = candidates
                .iter()
                .copied()
                .filter(|t| !t.numbers.is_empty())
                .collect();
            let pool = if specific.is_empty() {
                candidates
            } else {
                specific
            };
            let best: Vec<&proto::SipInboundTrunkInfo> =
                if pool.iter().any(|t| !t.allowed_numbers.is_empty()) {
                    pool.into_iter()
                        .filter(|t| !t.allowed_numbers.is_empty())
                        .collect()
                } else {
                    pool
                };
            let trunk = match best.as_slice() {
                [] => {
                    return Err(InboundRejected::NoTrunk {
                        to: to_n,
                        from: from_n,
                    })
                }
                [one] => (*one).clone(),
                many => {
                    return Err(InboundRejected::SeveralTrunks {
                        to: to_n,
                        trunks: many.iter().map(|t| t.sip_trunk_id.clone()).collect(),
                    })
                }
            };
            // Rules for this trunk (a rule naming the trunk beats a rule for all trunks).
            let rule_ok = |r: &proto::SipDispatchRuleInfo| {
                (r.trunk_ids.is_empty() || r.trunk_ids.contains(&trunk.sip_trunk_id))
                    && (r.inbound_numbers.is_empty()
                        || normalized_set(&r.inbound_numbers).contains(&from_n))
                    && (r.numbers.is_empty() || normalized_set(&r.numbers).contains(&to_n))
            };
            let mut rules: Vec<&proto::SipDispatchRuleInfo> =
                w.rules.iter().filter(|r| rule_ok(r)).collect();
            rules.sort_by_key(|r| r.trunk_ids.is_empty());
            if rules.is_empty() {
                return Err(InboundRejected::NoRule {
                    trunk: trunk.sip_trunk_id,
                });
            }
            let given_pin = pin.unwrap_or("");
            let rule = rules
                .iter()
                .find(|r| {
                    let p = rule_pin(r);
                    p.is_empty() || p == given_pin
                })
                .map(|r| (*r).clone())
                .ok_or(InboundRejected::WrongPin)?;
            let suffix = || uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
            let room_name = match rule.rule.as_ref().and_then(|r| r.rule.as_ref()) {
                Some(Rule::DispatchRuleDirect(d)) => d.room_name.clone(),
                Some(Rule::DispatchRuleIndividual(i)) => {
                    if i.no_randomness {
                        format!("{}_{}", i.room_prefix, from_n)
                    } else {
                        format!("{}_{}_{}", i.room_prefix, from_n, suffix())
                    }
                }
                Some(Rule::DispatchRuleCallee(c)) => {
                    if c.randomize {
                        format!("{}_{}_{}", c.room_prefix, to_n, suffix())
                    } else {
                        format!("{}_{}", c.room_prefix, to_n)
                    }
                }
                None => {
                    return Err(InboundRejected::NoRule {
                        trunk: trunk.sip_trunk_id,
                    })
                }
            };
            let config = rule.room_config.clone().unwrap_or_default();
            let (room, created) = self.ensure_room(&mut w, &room_name, &config.metadata);
            let room = self
                .set_room_timeouts(
                    &mut w,
                    &room_name,
                    config.empty_timeout,
                    config.departure_timeout,
                )
                .unwrap_or(room);
            let call_id = id("SCL_");
            // With `hide_phone_number` the caller's number appears nowhere: the identity is a
            // hash of it and the name its last four digits (livekit/protocol `rpc/sip.go`,
            // `NewCallDispatchRequest`).
            let identity = if rule.hide_phone_number {
                let digest = Sha256::digest(from_n.as_bytes());
                format!(
                    "sip_{}",
                    digest[..8]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                )
            } else {
                format!("sip_{from_n}")
            };
            let mut attributes: HashMap<String, String> = rule.attributes.clone();
            attributes.insert("sip.callID".into(), call_id.clone());
            // The bridge joins the room while the caller still hears ringing, and answers
            // only once an agent publishes audio (livekit/sip `pkg/sip/inbound.go`,
            // `handleInvite`: `joinRoom(ctx, disp.Room, CallRinging)`).
            attributes.insert("sip.callStatus".into(), "ringing".into());
            // The attributes an inbound call carries (livekit/protocol `livekit/attrs.go`,
            // `rpc/sip.go`; livekit/sip `pkg/sip/participant.go`): the From and To users as
            // the carrier sent them (not normalised), the From host, unless
            // `hide_phone_number`; the rule (inbound only); the SIP Call-ID and From tag
            // at once; Twilio's CallSid only when the INVITE carried X-Twilio-CallSid.
            if !rule.hide_phone_number {
                attributes.insert("sip.phoneNumber".into(), from.trim().to_string());
                attributes.insert("sip.trunkPhoneNumber".into(), to.trim().to_string());
                attributes.insert("sip.hostname".into(), source.to_string());
            }
            attributes.insert("sip.trunkID".into(), trunk.sip_trunk_id.clone());
            attributes.insert("sip.ruleID".into(), rule.sip_dispatch_rule_id.clone());
            attributes.insert(
                "sip.callIDFull".into(),
                format!("{}@{source}", uuid::Uuid::new_v4().simple()),
            );
            attributes.insert("sip.callTag".into(), id("tag"));
            // The INVITE as the carrier sent it, for the trunk's header options.
            let mut invite = vec![
                ("From", format!("<sip:{}@{source}>", from.trim())),
                ("Call-ID", attributes["sip.callIDFull"].clone()),
            ];
            if let Some(sid) = twilio_call_sid {
                invite.push(("X-Twilio-CallSid", sid.to_string()));
            }
            headers_to_attributes(
                &mut attributes,
                trunk.include_headers,
                &trunk.headers_to_attributes,
                &invite,
            );
            let participant = proto::ParticipantInfo {
                sid: id("PA_"),
                identity: identity.clone(),
                name: format!("Phone {from_n}"),
                state: participant_info::State::Active as i32,
                joined_at: now_secs(),
                joined_at_ms: now_secs() * 1000,
                kind: participant_info::Kind::Sip as i32,
                attributes,
                ..Default::default()
            };
            let mut agents = Vec::new();
            Self::joined(&mut w, &room_name, &participant);
            let r = w.rooms.entry(room_name.clone()).or_default();
            r.participants.push(participant.clone());
            for agent in &config.agents {
                r.dispatches.push(proto::AgentDispatch {
                    id: id("AD_"),
                    agent_name: agent.agent_name.clone(),
                    room: room_name.clone(),
                    metadata: agent.metadata.clone(),
                    ..Default::default()
                });
                agents.push((agent.agent_name.clone(), agent.metadata.clone()));
            }
            w.calls.push(FakeCall {
                call_id: call_id.clone(),
                direction: "inbound",
                room: room_name.clone(),
                identity: identity.clone(),
                from: from_n.clone(),
                to: to_n.clone(),
                sip_number: None,
                trunk_id: trunk.sip_trunk_id.clone(),
                dtmf: String::new(),
                display_name: None,
                play_dialtone: false,
                status: "ringing".into(),
                ended: false,
                transfers: Vec::new(),
                outcome: None,
            });
            let routed = InboundRouted {
                call_id,
                trunk_id: trunk.sip_trunk_id.clone(),
                rule_id: rule.sip_dispatch_rule_id.clone(),
                room: room_name,
                participant_identity: identity,
                participant_name: participant.name.clone(),
                agents,
            };
            (room, participant, routed, created)
        };
        if created {
            self.emit("room_started", &room, None);
        }
        self.emit("participant_joined", &room, Some(&participant));
        self.publish_sip_track(&room, &participant);
        if let (Some(after), Ok(runtime)) = (answers_after, tokio::runtime::Handle::try_current()) {
            let (fake, room) = (self.clone(), routed.room.clone());
            runtime.spawn(async move {
                tokio::time::sleep(after).await;
                fake.agent_answers(&room);
            });
        }
        Ok(routed)
    }

    /// The room's agent joins and publishes its audio track; the SIP bridge, subscribed
    /// to it, answers the ringing caller and the call becomes `active` (livekit/sip
    /// `pkg/sip/inbound.go`: the 200 OK waits for a subscribed audio track; `active` once
    /// media flows). LiveKit sends `participant_joined` and `track_published` for the
    /// agent, and nothing for the SIP participant's status. Returns whether a ringing
    /// call was answered.
    pub fn agent_answers(&self, room: &str) -> bool {
        let answered = {
            let Ok(mut w) = self.world.lock() else {
                return false;
            };
            let Some(r) = w.rooms.get_mut(room) else {
                return false;
            };
            let ringing = r.participants.iter().position(|p| {
                p.kind == participant_info::Kind::Sip as i32
                    && p.attributes.get("sip.callStatus").map(String::as_str) == Some("ringing")
            });
            let Some(index) = ringing else {
                return false;
            };
            let identity = r.participants[index].identity.clone();
            let agent_name = r
                .dispatches
                .first()
                .map(|d| d.agent_name.clone())
                .unwrap_or_else(|| "agent".into());
            let track = proto::TrackInfo {
                sid: id("TR_"),
                r#type: proto::TrackType::Audio as i32,
                name: "agent-audio".into(),
                source: proto::TrackSource::Microphone as i32,
                ..Default::default()
            };
            let agent = proto::ParticipantInfo {
                sid: id("PA_"),
                identity: format!("agent-{}", id("AJ_")),
                name: agent_name,
                state: participant_info::State::Active as i32,
                joined_at: now_secs(),
                kind: participant_info::Kind::Agent as i32,
                tracks: vec![track.clone()],
                ..Default::default()
            };
            r.participants.push(agent.clone());
            Some((r.room.clone(), agent, track, identity))
        };
        let Some((room_info, agent, track, identity)) = answered else {
            return false;
        };
        self.emit("participant_joined", &room_info, Some(&agent));
        self.emit_track("track_published", &room_info, &agent, &track);
        self.set_status(room, &identity, "active").is_some()
    }

    /// Adds an inbound trunk without LiveKit's checks — a trunk created before LiveKit
    /// enforced its conflict rules, which real projects can still hold.
    pub fn insert_legacy_inbound_trunk(&self, mut trunk: proto::SipInboundTrunkInfo) -> String {
        trunk.sip_trunk_id = id("ST_");
        let trunk_id = trunk.sip_trunk_id.clone();
        if let Ok(mut w) = self.world.lock() {
            w.inbound.push(trunk);
        }
        trunk_id
    }

    /// The caller hangs up a call (inbound or outbound) from the phone side.
    pub fn hang_up_from_phone(&self, room: &str, identity: &str) {
        self.end_call(room, identity, proto::DisconnectReason::ClientInitiated);
    }

    /// Starts an outbound call; resolves when it is dialing, or (with
    /// `wait_until_answered`) when it is answered or fails.
    pub(super) async fn create_sip_participant(
        &self,
        req: proto::CreateSipParticipantRequest,
        claims: &Claims,
    ) -> Result<proto::SipParticipantInfo, TwirpError> {
        if !claims.sip.call {
            return Err(TwirpError::new("unauthenticated", "permissions denied"));
        }
        if req.sip_call_to.is_empty() {
            return Err(TwirpError::invalid("call-to number must be set"));
        }
        if req.sip_call_to.contains('@') {
            return Err(TwirpError::invalid(
                "call-to number must not contain '@' (a number or user part only)",
            ));
        }
        if req.room_name.is_empty() {
            return Err(TwirpError::invalid("room name must be set"));
        }
        if req
            .display_name
            .as_ref()
            .is_some_and(|d| d.chars().count() > 128)
        {
            return Err(TwirpError::invalid(
                "display name must be at most 128 characters",
            ));
        }
        for c in req.dtmf.chars() {
            if !(c.is_ascii_digit() || matches!(c, '*' | '#' | 'w' | 'A' | 'B' | 'C' | 'D')) {
                return Err(TwirpError::invalid(format!("invalid DTMF character {c:?}")));
            }
        }
        let to = normalize_number(&req.sip_call_to);
        let (room, participant, outcome, timing, call_id, created, trunk_address, length) = {
            let mut w = self.lock()?;
            let trunk = w
                .outbound
                .iter()
                .find(|t| t.sip_trunk_id == req.sip_trunk_id)
                .cloned()
                .ok_or_else(|| {
                    TwirpError::not_found(format!(
                        "requested sip trunk {:?} does not exist",
                        req.sip_trunk_id
                    ))
                })?;
            let call_id = id("SCL_");
            let outcome = w.callee_outcome(&to, &call_id);
            let length = w.call_length.map(|l| l.for_call(&call_id));
            let (room, created) = self.ensure_room(&mut w, &req.room_name, "");
            let identity = if req.participant_identity.is_empty() {
                format!("sip_{to}")
            } else {
                req.participant_identity.clone()
            };
            if w.rooms
                .get(&req.room_name)
                .is_some_and(|r| r.participants.iter().any(|p| p.identity == identity))
            {
                return Err(TwirpError::new(
                    "already_exists",
                    format!(
                        "participant {identity:?} is already in room {:?}",
                        req.room_name
                    ),
                ));
            }
            // The caller ID (livekit/protocol `rpc/sip.go`,
            // `NewCreateSIPParticipantRequestResult`): the request's `sip_number`, else a
            // number of the trunk chosen at random; a trunk without numbers is refused;
            // Twilio trunks get a leading `+`.
            let mut from = if req.sip_number.is_empty() {
                if trunk.numbers.is_empty() {
                    return Err(TwirpError::new(
                        "failed_precondition",
                        "no numbers on outbound trunk",
                    ));
                }
                let pick = uuid::Uuid::new_v4().as_u128() as usize % trunk.numbers.len();
                trunk.numbers[pick].clone()
            } else {
                req.sip_number.clone()
            };
            if trunk.address.ends_with("twilio.com") && !from.starts_with('+') {
                from.insert(0, '+');
            }
            let mut attributes = req.participant_attributes.clone();
            attributes.insert("sip.callID".into(), call_id.clone());
            attributes.insert("sip.callStatus".into(), "dialing".into());
            // Outbound (livekit/protocol `rpc/sip.go`): the callee as requested, the
            // caller ID used and the trunk's address, unless `hide_phone_number`; no rule.
            // The Call-ID, To tag and Twilio's CallSid come with the callee's answer
            // (`answered_attributes`).
            if !req.hide_phone_number {
                attributes.insert("sip.phoneNumber".into(), req.sip_call_to.trim().to_string());
                attributes.insert("sip.trunkPhoneNumber".into(), from.clone());
                attributes.insert("sip.hostname".into(), trunk.address.clone());
            }
            attributes.insert("sip.trunkID".into(), trunk.sip_trunk_id.clone());
            let participant = proto::ParticipantInfo {
                sid: id("PA_"),
                identity: identity.clone(),
                name: if req.participant_name.is_empty() {
                    format!("Phone {to}")
                } else {
                    req.participant_name.clone()
                },
                metadata: req.participant_metadata.clone(),
                state: participant_info::State::Joining as i32,
                joined_at: now_secs(),
                joined_at_ms: now_secs() * 1000,
                kind: participant_info::Kind::Sip as i32,
                attributes,
                ..Default::default()
            };
            Self::joined(&mut w, &req.room_name, &participant);
            if let Some(r) = w.rooms.get_mut(&req.room_name) {
                r.participants.push(participant.clone());
            }
            w.calls.push(FakeCall {
                call_id: call_id.clone(),
                direction: "outbound",
                room: req.room_name.clone(),
                identity,
                from: normalize_number(&from),
                to: to.clone(),
                sip_number: (!req.sip_number.is_empty()).then(|| req.sip_number.clone()),
                trunk_id: trunk.sip_trunk_id.clone(),
                dtmf: req.dtmf.clone(),
                display_name: req.display_name.clone(),
                play_dialtone: req.play_dialtone,
                status: "dialing".into(),
                ended: false,
                transfers: Vec::new(),
                outcome: Some(outcome),
            });
            (
                room,
                participant,
                outcome,
                w.timing,
                call_id,
                created,
                trunk.address.clone(),
                length,
            )
        };
        if created {
            self.emit("room_started", &room, None);
        }
        self.emit("participant_joined", &room, Some(&participant));
        self.publish_sip_track(&room, &participant);
        // The INVITE goes to the carrier, which may refuse it before any callee hears it
        // (`carrier.rs`).
        let peer = self.lock()?.dial_peer.clone();
        let refused = peer
            .and_then(|answer| {
                answer(&DialledCall {
                    trunk_address,
                    to: req.sip_call_to.clone(),
                })
            })
            .and_then(Result::err);
        let ending = match refused {
            Some(refused) => {
                if let Ok(mut w) = self.world.lock() {
                    if let Some(call) = w.calls.iter_mut().find(|c| c.call_id == call_id) {
                        call.outcome = None;
                    }
                }
                Ending::Refused(refused)
            }
            None => Ending::Callee(outcome),
        };

        let waiter = if req.wait_until_answered {
            let (tx, rx) = oneshot::channel();
            if let Ok(mut w) = self.world.lock() {
                w.waiters.insert(call_id.clone(), tx);
            }
            Some(rx)
        } else {
            None
        };
        // The answer's headers become attributes as the trunk asks, or as the request
        // asks when it names an option (livekit/protocol `rpc/sip.go`,
        // `NewCreateSIPParticipantRequest`: `include_headers` from the trunk, replaced by
        // the request's when set; `headers_to_attributes` from the trunk).
        if let Ok(mut w) = self.world.lock() {
            let trunk = w
                .outbound
                .iter()
                .find(|t| t.sip_trunk_id == req.sip_trunk_id)
                .map(|t| (t.include_headers, t.headers_to_attributes.clone()));
            if let Some((trunk_option, to_attributes)) = trunk {
                let option = if req.include_headers != 0 {
                    req.include_headers
                } else {
                    trunk_option
                };
                w.answer_headers
                    .insert(call_id.clone(), (option, to_attributes));
            }
        }
        let plan = CallPlan {
            ending,
            timing,
            ringing_timeout: pb_duration(&req.ringing_timeout)
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_RINGING_TIMEOUT),
            // The request's maximum duration (the bridge hangs up) or the callee's own
            // hang-up, whichever comes first.
            lasts: [
                pb_duration(&req.max_call_duration).filter(|d| !d.is_zero()),
                length,
            ]
            .into_iter()
            .flatten()
            .min(),
        };
        let fake = self.clone();
        let (room_name, identity) = (req.room_name.clone(), participant.identity.clone());
        let id_for_task = call_id.clone();
        tokio::spawn(async move {
            fake.progress_call(&room_name, &identity, &id_for_task, plan)
                .await;
        });
        let info = proto::SipParticipantInfo {
            participant_id: participant.sid.clone(),
            participant_identity: participant.identity.clone(),
            room_name: req.room_name.clone(),
            sip_call_id: call_id,
        };
        let Some(rx) = waiter else {
            return Ok(info);
        };
        match tokio::time::timeout(timing.sip_wait_until_answered, rx).await {
            Ok(Ok(Ok(()))) => Ok(info),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(TwirpError::new("internal", "the call ended unexpectedly")),
            Err(_) => {
                // livekit-server gives the SIP service 80 s (livekit/livekit
                // `pkg/service/sip.go`, `CreateSIPParticipant`); when they pass, psrpc's
                // client answers `deadline_exceeded` "request timed out" (livekit/psrpc
                // `pkg/client/rpc.go`, `ErrRequestTimedOut` in `errors.go`). The bridge
                // dials under that request's context (livekit/sip `pkg/sip/client.go`,
                // `createSIPParticipant`: `dialCtx` from the RPC's `ctx`, detached only
                // once answered), so the INVITE is cancelled at the same moment
                // (`pkg/sip/outbound.go`, `sipResponse`) and the participant leaves as
                // unanswered (`pkg/sip/errors.go`: USER_UNAVAILABLE): the call does not
                // go on.
                if let Ok(mut w) = self.world.lock() {
                    w.waiters.remove(&info.sip_call_id);
                }
                self.end_call(
                    &req.room_name,
                    &info.participant_identity,
                    proto::DisconnectReason::UserUnavailable,
                );
                Err(TwirpError::new("deadline_exceeded", "request timed out"))
            }
        }
    }

    pub(super) async fn progress_call(
        &self,
        room: &str,
        identity: &str,
        call_id: &str,
        plan: CallPlan,
    ) {
        let CallPlan {
            ending,
            timing,
            ringing_timeout,
            lasts,
        } = plan;
        // Taken now, so a call that fails leaves nothing behind.
        let (option, to_attributes, callee) = self
            .world
            .lock()
            .ok()
            .map(|mut w| {
                let (option, to_attributes) = w.answer_headers.remove(call_id).unwrap_or_default();
                let callee = w
                    .calls
                    .iter()
                    .find(|c| c.call_id == call_id)
                    .map(|c| c.to.clone())
                    .unwrap_or_default();
                (option, to_attributes, callee)
            })
            .unwrap_or_default();
        let finish = |result: Result<(), TwirpError>| {
            if let Ok(mut w) = self.world.lock() {
                if let Some(tx) = w.waiters.remove(call_id) {
                    let _ = tx.send(result);
                }
            }
        };
        let outcome = match ending {
            Ending::Callee(outcome) => outcome,
            Ending::Refused(refused) => {
                // The carrier's final response comes at once, before any ringing.
                tokio::time::sleep(timing.ringing_after / 2).await;
                let (error, left) = carrier::refused_invite(&refused);
                finish(Err(error));
                self.end_call_as(room, identity, left, false);
                return;
            }
        };
        // How each ending looks to the API (livekit/protocol `livekit/sip.go`,
        // `sipCodeToGRPCCode`; livekit/sip `pkg/sip/outbound.go`) and in `participant_left`
        // (livekit/sip `pkg/sip/errors.go`, `classifyInviteError`).
        if outcome == CallOutcome::TrunkAuthFailure {
            // The bridge answers each 401/407 challenge and gives up after 5 INVITEs
            // (`authLoop`): no SIP status reaches the API.
            tokio::time::sleep(timing.ringing_after / 2).await;
            finish(Err(TwirpError::new(
                "failed_precondition",
                "max auth retry attempts reached for SIP invite",
            )));
            self.end_call(room, identity, proto::DisconnectReason::UserRejected);
            return;
        }
        tokio::time::sleep(timing.ringing_after).await;
        if self.set_status(room, identity, "ringing").is_none() {
            finish(Err(TwirpError::new(
                "aborted",
                "the call was removed while dialing",
            )));
            return;
        }
        // Twilio's 18x carries X-Twilio-CallSid (livekit/sip `pkg/sip/types.go`,
        // `HeadersToAttrs`: only when the header is there).
        if self
            .trunk_address_of(room, identity)
            .is_some_and(|a| a.ends_with("twilio.com"))
        {
            self.set_attribute(
                room,
                identity,
                "sip.twilio.callSid",
                &format!("CA{}", uuid::Uuid::new_v4().simple()),
            );
        }
        let (wait, failure) = match outcome {
            CallOutcome::Answer => (timing.answer_after, None),
            CallOutcome::Busy => (
                timing.answer_after / 2,
                Some((
                    TwirpError::sip("resource_exhausted", 486, "Busy Here"),
                    proto::DisconnectReason::UserRejected,
                )),
            ),
            CallOutcome::Declined => (
                timing.answer_after,
                Some((
                    TwirpError::sip("permission_denied", 603, "Decline"),
                    proto::DisconnectReason::UserRejected,
                )),
            ),
            // Nobody answers: the bridge's ringing timer cancels the INVITE
            // (`sipResponse`): `canceled`, "sip request timed out", no SIP status.
            CallOutcome::NoAnswer => (
                ringing_timeout,
                Some((
                    TwirpError::new("canceled", "sip request timed out"),
                    proto::DisconnectReason::UserUnavailable,
                )),
            ),
            CallOutcome::TrunkAuthFailure => (Duration::ZERO, None),
        };
        tokio::time::sleep(wait).await;
        match failure {
            Some((e, reason)) => {
                finish(Err(e));
                self.end_call(room, identity, reason);
            }
            None => {
                // The 200 OK brings the Call-ID and the callee's tag (livekit/sip
                // `pkg/sip/outbound.go`, `setExtraAttrs` at the end of `sipSignal`, through
                // `HeadersToAttrs` with the call's header options).
                let call_id_full = format!("{}@dial", uuid::Uuid::new_v4().simple());
                let tag = id("tag");
                let host = self.trunk_address_of(room, identity).unwrap_or_default();
                let answer = [
                    ("Call-ID", call_id_full.clone()),
                    ("To", format!("<sip:{callee}@{host}>;tag={tag}")),
                ];
                let mut extra = HashMap::new();
                headers_to_attributes(&mut extra, option, &to_attributes, &answer);
                extra.insert("sip.callIDFull".into(), call_id_full);
                extra.insert("sip.callTag".into(), tag);
                for (name, value) in &extra {
                    self.set_attribute(room, identity, name, value);
                }
                if self.set_status(room, identity, "active").is_none() {
                    finish(Err(TwirpError::new(
                        "aborted",
                        "the call was removed while ringing",
                    )));
                    return;
                }
                finish(Ok(()));
                // The bridge hangs up at the maximum duration, or the callee sends BYE
                // (`callees.rs`): either way `hangup`, CLIENT_INITIATED.
                if let Some(lasts) = lasts {
                    tokio::time::sleep(lasts).await;
                    self.hang_up_from_phone(room, identity);
                }
            }
        }
    }
}

/// What happens to an outbound call once dialled.
pub(super) struct CallPlan {
    ending: Ending,
    timing: CallTiming,
    ringing_timeout: Duration,
    /// An answered call ends this long after the answer.
    lasts: Option<Duration>,
}

/// Who ends an outbound call that does not stay up: its callee, or the carrier refusing
/// the INVITE.
enum Ending {
    Callee(CallOutcome),
    Refused(InviteRefused),
}

/// The attributes an inbound call's SIP headers give (livekit/sip `pkg/sip/types.go`,
/// `HeadersToAttrs`, with the trunk's options as livekit/protocol `sip/sip.go` passes them
/// in the dispatch): every header as `sip.h.<lowercase name>` with `SIP_ALL_HEADERS`, only
/// `X-` ones with `SIP_X_HEADERS`, none by default; the carriers' headers Dial knows by
/// name (livekit/sip `pkg/sip/participant.go`, `headerToAttr`: Twilio's CallSid and
/// AccountSid, Telnyx's and Amazon Connect's ids); then the trunk's own
/// `headers_to_attributes`. Header names match whatever their case.
fn headers_to_attributes(
    attributes: &mut HashMap<String, String>,
    include_headers: i32,
    to_attributes: &HashMap<String, String>,
    headers: &[(&str, String)],
) {
    use proto::SipHeaderOptions as Options;
    let options = Options::try_from(include_headers).unwrap_or(Options::SipNoHeaders);
    if options != Options::SipNoHeaders {
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if options == Options::SipXHeaders && !name.starts_with("x-") {
                continue;
            }
            attributes.insert(format!("sip.h.{name}"), value.clone());
        }
    }
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.clone())
    };
    const KNOWN: [(&str, &str); 9] = [
        ("X-Twilio-AccountSid", "sip.twilio.accountSid"),
        ("X-Twilio-CallSid", "sip.twilio.callSid"),
        ("X-call_leg_id", "sip.telnyx.callLegID"),
        ("X-call_session_id", "sip.telnyx.callSessionID"),
        ("X-Amzn-ConnectContactId", "sip.amazon.contactId"),
        (
            "X-Amzn-ConnectInitialContactId",
            "sip.amazon.initialContactId",
        ),
        ("X-Amzn-SourceAccount", "sip.amazon.sourceAccount"),
        ("X-Amzn-SourceArn", "sip.amazon.sourceArn"),
        ("X-Amzn-TargetArn", "sip.amazon.targetArn"),
    ];
    for (name, attribute) in KNOWN {
        if let Some(value) = header(name) {
            attributes.insert(attribute.to_string(), value);
        }
    }
    for (name, attribute) in to_attributes {
        if let Some(value) = header(name) {
            attributes.insert(attribute.clone(), value);
        }
    }
}
