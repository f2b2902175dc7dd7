//! `livekit.RoomService` and `livekit.AgentDispatchService`: rooms, participants and
//! agent dispatches, with room grants checked per request.

use super::*;

impl FakeLiveKit {
    // -- Rooms and participants -----------------------------------------------------------

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
            empty_timeout: 300,
            departure_timeout: 20,
            ..Default::default()
        };
        world.rooms.insert(
            name.to_string(),
            RoomState {
                room: room.clone(),
                ..Default::default()
            },
        );
        (room, true)
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
                        room.num_participants = u32::try_from(r.participants.len()).unwrap_or(0);
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
