//! The messages replicas exchange over the bus: one versioned, serde-typed schema.
//!
//! Every message is an [`Envelope`]: the schema version, the sending replica, and a [`Body`].
//! A replica drops (and counts) envelopes of a version it does not know, so a rolling upgrade
//! that changes the schema must bump [`VERSION`] and keep reading the previous one for a
//! release.
//!
//! | body | from → to | routed by |
//! |---|---|---|
//! | [`Body::Control`] | any replica → the world's owner (or every replica for [`Control::Evict`] of all worlds) | owner's replica id; fanout for global ones |
//! | [`Body::Connect`], [`Body::Frame`], [`Body::Closed`] | the replica holding a socket → the world's owner | owner's replica id |
//! | [`Body::Deliver`] | the owner → the replica holding the sockets | that replica's id |
//! | [`Body::Moved`] | a replica that does not (or no longer) run the world → the socket's replica | that replica's id |

use serde::{Deserialize, Serialize};

use crowdwire_world::engine::{Profile, SessionId};

use crate::bus::Control;

/// The schema version this build writes and reads.
pub const VERSION: u16 = 1;

/// One message between replicas.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Schema version ([`VERSION`]).
    pub v: u16,
    /// The sending replica.
    pub from: String,
    /// What it says.
    pub body: Body,
}

/// What an envelope carries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A moderation or settings change for live sessions.
    Control {
        /// What changed.
        control: Control,
    },
    /// A socket authorised on the sender joins `world`, whose engine runs on the receiver.
    Connect {
        /// World.
        world: i64,
        /// The session (unique across replicas).
        session: SessionId,
        /// Who, as the sender's authorisation found them.
        profile: Profile,
        /// An open socket re-attached after its world's owner changed, whose client heard
        /// from the previous owner (and may hold its media): see `Input::Connect`.
        #[serde(default, skip_serializing_if = "is_false")]
        resumed: bool,
    },
    /// A client frame, as the socket received it (parsed by the owner).
    Frame {
        /// World.
        world: i64,
        /// Session.
        session: SessionId,
        /// The frame's text (shared with the copy the sender keeps until it is acknowledged).
        text: std::sync::Arc<str>,
        /// The socket's count of frames sent so far (0: not counted). The owner acknowledges
        /// the frames it has taken (see `Deliver::acks`); the sender keeps the others, and
        /// sends them again to the next owner if this one dies or leaves first.
        #[serde(default, skip_serializing_if = "is_zero")]
        seq: u64,
    },
    /// The socket of a session ended.
    Closed {
        /// World.
        world: i64,
        /// Session.
        session: SessionId,
        /// Closed on purpose (else a network drop, which keeps the player's place a while).
        clean: bool,
    },
    /// Frames (and closes) for sessions held by the receiver, from one turn of the owner.
    /// Each distinct frame is carried once, however many of the receiver's sessions get it.
    Deliver {
        /// World.
        world: i64,
        /// The owner's lease fencing token: frames from a deposed owner are dropped.
        fence: u64,
        /// The turn's distinct frames for this receiver.
        frames: Vec<WireText>,
        /// Per session: which of them, in order.
        items: Vec<Delivery>,
        /// Per session: the `seq` of the last of its frames the owner has taken (sent with
        /// what that frame produced for the receiver, in the same envelope).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        acks: Vec<(SessionId, u64)>,
    },
    /// The sender is stopping: the owner closes this session's socket (with 1012, after
    /// everything it has for it, in its next delivery) and counts it as a dropped connection,
    /// so nothing it produced for the socket before is lost in flight.
    Moving {
        /// World.
        world: i64,
        /// Session.
        session: SessionId,
    },
    /// The receiver's session asked a replica that does not run its world: it should
    /// reconnect (and reach the current owner).
    Moved {
        /// World.
        world: i64,
        /// Session.
        session: SessionId,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Frames for one session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    /// Session.
    pub session: SessionId,
    /// Indices into the envelope's `frames`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<u32>,
    /// Then close the socket with this code and reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<(u16, String)>,
}

/// One outgoing frame.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WireText {
    /// The frame's text.
    pub t: String,
    /// The mover, for position updates the receiving queue may coalesce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<u32>,
}

impl Envelope {
    /// An envelope of this build's version.
    pub fn new(from: &str, body: Body) -> Envelope {
        Envelope {
            v: VERSION,
            from: from.to_owned(),
            body,
        }
    }

    /// Serialised for the bus.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("envelopes are plain data")
    }

    /// Parses what the bus delivered; refuses other schema versions.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, String> {
        #[derive(Deserialize)]
        struct Version {
            v: u16,
        }
        let Version { v } = serde_json::from_slice(bytes).map_err(|e| format!("not an envelope: {e}"))?;
        if v != VERSION {
            return Err(format!("schema version {v}, this replica reads {VERSION}"));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("bad envelope: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowdwire_world::engine::Permissions;
    use crowdwire_world::roles::RoleFlags;

    fn profile() -> Profile {
        Profile {
            user_id: "7".into(),
            member_id: Some(7),
            username: "Ada".into(),
            avatar: "a1".into(),
            role: Permissions {
                role_id: 2,
                name: "Member".into(),
                flags: RoleFlags {
                    walk: true,
                    talk: true,
                    ..RoleFlags::default()
                },
            },
            creator: false,
        }
    }

    #[test]
    fn every_body_round_trips_and_is_tagged() {
        let bodies = vec![
            Body::Control {
                control: Control::WorldUpdated {
                    world: 3,
                    map_changed: true,
                },
            },
            Body::Connect {
                world: 3,
                session: (5 << 40) | 9,
                profile: profile(),
                resumed: true,
            },
            Body::Frame {
                world: 3,
                session: 9,
                text: r#"{"topic":"PING"}"#.into(),
                seq: 41,
            },
            Body::Closed {
                world: 3,
                session: 9,
                clean: false,
            },
            Body::Deliver {
                world: 3,
                fence: 12,
                frames: vec![WireText {
                    t: "PONG".into(),
                    c: Some(4),
                }],
                items: vec![Delivery {
                    session: 9,
                    frames: vec![0],
                    close: Some((4001, "bye".into())),
                }],
                acks: vec![(9, 41)],
            },
            Body::Moved { world: 3, session: 9 },
            Body::Moving { world: 3, session: 9 },
        ];
        for body in bodies {
            let e = Envelope::new("r1", body);
            let bytes = e.to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["v"], 1);
            assert!(v["body"]["kind"].is_string());
            assert_eq!(Envelope::from_bytes(&bytes).unwrap(), e);
        }
    }

    #[test]
    fn other_versions_and_garbage_are_refused_with_a_reason() {
        let e = Envelope::from_bytes(br#"{"v":2,"from":"r","body":{"kind":"moved","world":1,"session":1}}"#);
        assert!(e.unwrap_err().contains("version 2"));
        assert!(Envelope::from_bytes(b"\x00junk").is_err());
        assert!(Envelope::from_bytes(br#"{"v":1,"from":"r","body":{"kind":"nope"}}"#).is_err());
    }

    #[test]
    fn envelopes_of_replicas_without_frame_counts_are_still_read() {
        let e = Envelope::from_bytes(br#"{"v":1,"from":"r","body":{"kind":"frame","world":1,"session":2,"text":"x"}}"#)
            .unwrap();
        assert!(matches!(e.body, Body::Frame { seq: 0, .. }));
        let e = Envelope::from_bytes(
            br#"{"v":1,"from":"r","body":{"kind":"deliver","world":1,"fence":1,"frames":[],"items":[]}}"#,
        )
        .unwrap();
        assert!(matches!(e.body, Body::Deliver { ref acks, .. } if acks.is_empty()));
    }
}
