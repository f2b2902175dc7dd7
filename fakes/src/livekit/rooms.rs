//! `livekit.RoomService` and `livekit.AgentDispatchService`: rooms, participants and
//! agent dispatches, with room grants checked per request.
//!
//! A room's life follows livekit-server's (livekit/livekit `pkg/rtc/room.go`,
//! `CloseIfEmpty`, run every second by `pkg/service/server.go`'s `backgroundWorker`
//! through `pkg/service/roommanager.go`'s `CloseIdleRooms`): it stays open while anyone
//! other than an agent or egress is in it (`pkg/rtc/participant.go`, `IsDependent`);
//! once someone has joined and the last participant has left, it closes after its
//! `departure_timeout`; a room nobody joined closes its `empty_timeout` after it was made.
//! Closing removes the agents still in it (`participant_left`, `ROOM_CLOSED`), then sends
//! `room_finished`. The timeouts come from the server's defaults (`pkg/config/config.go`:
//! 300 s and 20 s), overridden by CreateRoom's fields when they are above zero
//! (`pkg/service/roomallocator.go`, `CreateRoom`) and by the dispatch rule's room
//! configuration for the rooms inbound calls make (`pkg/service/utils.go`,
//! `SetRoomConfiguration`, from the SIP participant's token).

use super::*;

/// Agents and egress do not keep a room open, nor count in `num_participants`
/// (livekit/livekit `pkg/rtc/participant.go`, `IsDependent`; `pkg/rtc/room.go`,
/// `updateProto`).
pub(super) fn is_dependent(p: &proto::ParticipantInfo) -> bool {
    p.kind == participant_info::Kind::Agent as i32
        || p.kind == participant_info::Kind::Egress as i32
}

/// When a room closes if nothing changes, or `None` while someone keeps it open
/// (livekit/livekit `pkg/rtc/room.go`, `CloseIfEmpty`).
fn closes_at(r: &RoomState, second: Duration) -> Option<Instant> {
    if r.participants.iter().any(|p| !is_dependent(p)) {
        return None;
    }
    let (since, timeout) = match (r.first_joined_at, r.last_left_at) {
        // "need to give time in case participant is reconnecting"
        (Some(_), Some(left)) => (left, r.room.departure_timeout),
        _ => (r.created_at?, r.room.empty_timeout),
    };
    Some(since + second * timeout)
}

impl FakeLiveKit {
    // -- Rooms and participants -----------------------------------------------------------

    /// The room `name`, made (with the server's default timeouts) if it does not exist;
    /// whether it was made. A new room is watched for its `empty_timeout`.
    pub(super) fn ensure_room(
        &self,
        world: &mut World,
        name: &str,
        metadata: &str,
    ) -> (proto::Room, bool) {
        if let Some(r) = world.rooms.get(name) {
            return (r.room.clone(), false);
        }
        let room = proto::Room {
            sid: id("RM_"),
            name: name.to_string(),
            metadata: metadata.to_string(),
            creation_time: now_secs(),
            creation_time_ms: now_secs() * 1000,
            empty_timeout: DEFAULT_EMPTY_TIMEOUT_SECS,
            departure_timeout: DEFAULT_DEPARTURE_TIMEOUT_SECS,
            ..Default::default()
        };
        let state = RoomState {
            room: room.clone(),
            created_at: Some(Instant::now()),
            ..Default::default()
        };
        if let Some(at) = closes_at(&state, world.timing.room_second) {
            self.watch_room(name, at);
        }
        world.rooms.insert(name.to_string(), state);
        (room, true)
    }

    /// Sets a room's timeouts from a request or a room configuration: a value above zero
    /// replaces the room's (livekit/livekit `pkg/service/roomallocator.go`, `CreateRoom`,
    /// which updates an existing room too).
    pub(super) fn set_room_timeouts(
        &self,
        world: &mut World,
        name: &str,
        empty_timeout: u32,
        departure_timeout: u32,
    ) -> Option<proto::Room> {
        let second = world.timing.room_second;
        let r = world.rooms.get_mut(name)?;
        if empty_timeout > 0 {
            r.room.empty_timeout = empty_timeout;
        }
        if departure_timeout > 0 {
            r.room.departure_timeout = departure_timeout;
        }
        if let Some(at) = closes_at(r, second) {
            self.watch_room(name, at);
        }
        Some(r.room.clone())
    }

    /// A participant joined room `name`: one that is not an agent starts the room's
    /// departure rule (livekit/livekit `pkg/rtc/room.go`, `Join`: `joinedAt`).
    pub(super) fn joined(world: &mut World, name: &str, p: &proto::ParticipantInfo) {
        if let Some(r) = world.rooms.get_mut(name) {
            if !is_dependent(p) && r.first_joined_at.is_none() {
                r.first_joined_at = Some(Instant::now());
            }
        }
    }

    /// A participant left room `name` (livekit/livekit `pkg/rtc/room.go`,
    /// `RemoveParticipant`: `leftAt`, whoever it was); the room is watched for its
    /// `departure_timeout` once only agents are left.
    pub(super) fn left(&self, world: &mut World, name: &str) {
        let second = world.timing.room_second;
        if let Some(r) = world.rooms.get_mut(name) {
            r.last_left_at = Some(Instant::now());
            if let Some(at) = closes_at(r, second) {
                self.watch_room(name, at);
            }
        }
    }

    /// Checks room `name` at `at` (outside a Tokio runtime the room stays until deleted).
    fn watch_room(&self, name: &str, at: Instant) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (fake, name) = (self.clone(), name.to_string());
        runtime.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            fake.close_if_empty(&name);
        });
    }

    /// Closes room `name` if its timeout has passed with nobody but agents in it; if it
    /// is due later (someone left since, or its timeout grew), checks again then.
    fn close_if_empty(&self, name: &str) {
        let closed = {
            let Ok(mut w) = self.world.lock() else { return };
            let second = w.timing.room_second;
            let Some(at) = w.rooms.get(name).and_then(|r| closes_at(r, second)) else {
                return;
            };
            if at > Instant::now() {
                self.watch_room(name, at);
                return;
            }
            let Some(r) = w.rooms.remove(name) else {
                return;
            };
            r
        };
        // Closing the room closes everyone still in it: only agents can be
        // (livekit/livekit `pkg/rtc/room.go`, `Close`: `ParticipantCloseReasonRoomClosed`,
        // `ROOM_CLOSED` in `pkg/rtc/types/interfaces.go`).
        for p in &closed.participants {
            let mut p = p.clone();
            p.state = participant_info::State::Disconnected as i32;
            p.disconnect_reason = proto::DisconnectReason::RoomClosed as i32;
            self.emit("participant_left", &closed.room, Some(&p));
        }
        self.emit("room_finished", &closed.room, None);
    }

    pub(super) fn room_method(
        &self,
        method: &str,
        body: Body<'_>,
        claims: &Claims,
    ) -> Result<Vec<u8>, TwirpError> {
        let denied = || TwirpError::new("unauthenticated", "permissions denied");
        match method {
            "CreateRoom" => {
                if !claims.video.room_create {
                    return Err(denied());
                }
                let req: proto::CreateRoomRequest = body.decode()?;
                if req.name.is_empty() {
                    return Err(TwirpError::invalid("room name must be set"));
                }
                let (room, created) = {
                    let mut w = self.lock()?;
                    let (room, created) = self.ensure_room(&mut w, &req.name, &req.metadata);
                    let room = self
                        .set_room_timeouts(
                            &mut w,
                            &req.name,
                            req.empty_timeout,
                            req.departure_timeout,
                        )
                        .unwrap_or(room);
                    if let Some(r) = w.rooms.get_mut(&req.name) {
                        for agent in &req.agents {
                            r.dispatches.push(proto::AgentDispatch {
                                id: id("AD_"),
                                agent_name: agent.agent_name.clone(),
                                room: req.name.clone(),
                                metadata: agent.metadata.clone(),
                                ..Default::default()
                            });
                        }
                    }
                    (room, created)
                };
                if created {
                    self.emit("room_started", &room, None);
                }
                body.encode(&room)
            }
            "ListRooms" => {
                if !claims.video.room_list {
                    return Err(denied());
                }
                let req: proto::ListRoomsRequest = body.decode()?;
                let w = self.lock()?;
                let rooms = w
                    .rooms
                    .values()
                    .filter(|r| req.names.is_empty() || req.names.contains(&r.room.name))
                    .map(|r| {
                        let mut room = r.room.clone();
                        let people = r.participants.iter().filter(|p| !is_dependent(p)).count();
                        room.num_participants = u32::try_from(people).unwrap_or(0);
                        room
                    })
                    .collect();
                body.encode(&proto::ListRoomsResponse { rooms })
            }
            "DeleteRoom" => {
                if !claims.video.room_create {
                    return Err(denied());
                }
                let req: proto::DeleteRoomRequest = body.decode()?;
                let removed = self.lock()?.rooms.remove(&req.room);
                if let Some(r) = removed {
                    for p in &r.participants {
                        if let Ok(mut w) = self.world.lock() {
                            if let Some(c) = w
                                .calls
                                .iter_mut()
                                .find(|c| c.room == req.room && c.identity == p.identity)
                            {
                                c.status = "hangup".into();
                                c.ended = true;
                            }
                        }
                        // Removed with the room: livekit-server's own reason.
                        let mut p = p.clone();
                        p.disconnect_reason = proto::DisconnectReason::RoomDeleted as i32;
                        self.emit("participant_left", &r.room, Some(&p));
                        // A browser in it is told and disconnected (livekit/livekit
                        // `pkg/rtc/room.go`, `Close`, sends each participant `leave`).
                        self.kick_client(
                            &req.room,
                            &p.identity,
                            proto::DisconnectReason::RoomDeleted,
                        );
                    }
                    self.emit("room_finished", &r.room, None);
                }
                body.encode(&proto::DeleteRoomResponse {})
            }
            "ListParticipants" | "GetParticipant" | "RemoveParticipant" => {
                if !claims.video.room_admin {
                    return Err(denied());
                }
                if method == "ListParticipants" {
                    let req: proto::ListParticipantsRequest = body.decode()?;
                    self.check_room_grant(claims, &req.room)?;
                    let w = self.lock()?;
                    let room = w.rooms.get(&req.room).ok_or_else(|| {
                        TwirpError::not_found(format!("room {:?} not found", req.room))
                    })?;
                    return body.encode(&proto::ListParticipantsResponse {
                        participants: room.participants.clone(),
                    });
                }
                let req: proto::RoomParticipantIdentity = body.decode()?;
                self.check_room_grant(claims, &req.room)?;
                let participant = {
                    let w = self.lock()?;
                    let room = w.rooms.get(&req.room).ok_or_else(|| {
                        TwirpError::not_found(format!("room {:?} not found", req.room))
                    })?;
                    room.participants
                        .iter()
                        .find(|p| p.identity == req.identity)
                        .cloned()
                        .ok_or_else(|| {
                            TwirpError::not_found(format!(
                                "participant {:?} not found",
                                req.identity
                            ))
                        })?
                };
                if method == "GetParticipant" {
                    body.encode(&participant)
                } else {
                    // Removed by the API: livekit-server's own reason.
                    self.end_call(
                        &req.room,
                        &req.identity,
                        proto::DisconnectReason::ParticipantRemoved,
                    );
                    // A browser is told and disconnected (livekit/livekit
                    // `pkg/service/roomservice.go`, `RemoveParticipant`).
                    self.kick_client(
                        &req.room,
                        &req.identity,
                        proto::DisconnectReason::ParticipantRemoved,
                    );
                    body.encode(&proto::RemoveParticipantResponse {})
                }
            }
            _ => Err(TwirpError::new(
                "bad_route",
                format!("unknown method livekit.RoomService/{method}"),
            )),
        }
    }

    pub(super) fn check_room_grant(&self, claims: &Claims, room: &str) -> Result<(), TwirpError> {
        if !claims.video.room.is_empty() && claims.video.room != room {
            return Err(TwirpError::new("unauthenticated", "permissions denied"));
        }
        Ok(())
    }

    pub(super) fn dispatch_method(
        &self,
        method: &str,
        body: Body<'_>,
        claims: &Claims,
    ) -> Result<Vec<u8>, TwirpError> {
        if !claims.video.room_admin {
            return Err(TwirpError::new("unauthenticated", "permissions denied"));
        }
        match method {
            "CreateDispatch" => {
                let req: proto::CreateAgentDispatchRequest = body.decode()?;
                if req.room.is_empty() {
                    return Err(TwirpError::invalid("room must be set"));
                }
                let dispatch = proto::AgentDispatch {
                    id: id("AD_"),
                    agent_name: req.agent_name.clone(),
                    room: req.room.clone(),
                    metadata: req.metadata.clone(),
                    ..Default::default()
                };
                let (room, created) = {
                    let mut w = self.lock()?;
                    let (room, created) = self.ensure_room(&mut w, &req.room, "");
                    if let Some(r) = w.rooms.get_mut(&req.room) {
                        r.dispatches.push(dispatch.clone());
                    }
                    (room, created)
                };
                if created {
                    self.emit("room_started", &room, None);
                }
                body.encode(&dispatch)
            }
            "ListDispatch" => {
                let req: proto::ListAgentDispatchRequest = body.decode()?;
                let w = self.lock()?;
                let agent_dispatches = w
                    .rooms
                    .get(&req.room)
                    .map(|r| r.dispatches.clone())
                    .unwrap_or_default();
                body.encode(&proto::ListAgentDispatchResponse { agent_dispatches })
            }
            "DeleteDispatch" => {
                let req: proto::DeleteAgentDispatchRequest = body.decode()?;
                let mut w = self.lock()?;
                let r = w
                    .rooms
                    .get_mut(&req.room)
                    .ok_or_else(|| TwirpError::not_found("room not found"))?;
                let index = r
                    .dispatches
                    .iter()
                    .position(|d| d.id == req.dispatch_id)
                    .ok_or_else(|| TwirpError::not_found("dispatch not found"))?;
                let d = r.dispatches.remove(index);
                body.encode(&d)
            }
            _ => Err(TwirpError::new(
                "bad_route",
                format!("unknown method livekit.AgentDispatchService/{method}"),
            )),
        }
    }
}
