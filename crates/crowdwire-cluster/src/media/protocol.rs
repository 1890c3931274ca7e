//! The API ↔ media node protocol on RabbitMQ: the seed's, with the few
//! additions a correct placement needs.
//!
//! - Commands go to the node's own queue `media_server_{node}` (default exchange), as
//!   `{topic, d}` with the seed's topics: `join-as-speaker`, `join-as-new-peer`,
//!   `add-speaker`, `remove-user-from-groups`, `destroy-room`, `close-media`,
//!   `toggle-producer`, and the client's `@…` signalling. One addition: `file-target`
//!   (`{roomIds, peerId, downloader}`), which routes a file's data channel to one downloader.
//! - Each command carries the AMQP properties `correlation_id` = the world id (room ids are
//!   unique only within a world) and `reply_to` = the queue of the API replica running that
//!   world. Replies (`you-joined-as-speaker`, `@…-done`, `new-peer-producer`, …) go there as
//!   `{topic, d, uid}`, `uid` naming the peer they are for, with the same `correlation_id`.
//!   A command without `reply_to` (the seed's API) is answered on `rest_api_queue`.
//! - `CREATE_NEW_REPLICA` goes to `rest_api_queue`, as in the seed.
//! - Nodes register in Redis: `media_server_{node}` (hash: `num_rooms`, `consumers`,
//!   `capacity`, `load`, `cpu`, `queue`) and `media:nodes` (sorted set of node ids scored by
//!   the Unix ms their registration expires); a room's node is `world:{w}:room:{room}`, and
//!   `world:{w}:rooms` is the set of a world's placed rooms (read by a replica that takes the
//!   world over, to watch their nodes).

use serde_json::{Value, json};

use crowdwire_world::engine::{MediaCommand, MediaRole};

/// The queue every API replica consumes for node-wide messages (`CREATE_NEW_REPLICA`, and
/// replies to commands that named no `reply_to`).
pub const API_QUEUE: &str = "rest_api_queue";
/// The topic a node sends when it passes its capacity threshold.
pub const CREATE_NEW_REPLICA: &str = "CREATE_NEW_REPLICA";
/// The sorted set of live nodes.
pub const NODES_KEY: &str = "media:nodes";

/// Declares `own` (this process's queue: exclusive, gone with its connection) and the
/// durable [`API_QUEUE`].
pub async fn declare_queues(channel: &lapin::Channel, own: &str) -> lapin::Result<()> {
    use lapin::options::QueueDeclareOptions;
    use lapin::types::FieldTable;
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(own.into(), exclusive, FieldTable::default())
        .await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(API_QUEUE.into(), durable, FieldTable::default())
        .await?;
    Ok(())
}

/// A node's command queue.
pub fn node_queue(node: &str) -> String {
    format!("media_server_{node}")
}

/// A node's registration hash (the seed's key).
pub fn node_key(node: &str) -> String {
    format!("media_server_{node}")
}

/// Where a room's node is recorded.
pub fn room_key(world: i64, room: &str) -> String {
    format!("world:{world}:room:{room}")
}

/// The Redis set of the rooms placed for a world (so a replica that takes the world over
/// learns where its rooms are).
pub fn rooms_key(world: i64) -> String {
    format!("world:{world}:rooms")
}

/// One command as seed messages, each with the room that routes it.
pub fn to_seed(command: &MediaCommand) -> Vec<(String, Value)> {
    let one = |room: &str, topic: &str, d: Value| vec![(room.to_owned(), json!({"topic": topic, "d": d}))];
    match command {
        MediaCommand::Join { room, peer, role } => {
            let topic = match role {
                MediaRole::Speaker => "join-as-speaker",
                MediaRole::Listener => "join-as-new-peer",
            };
            one(room, topic, json!({"roomId": room, "peerId": peer}))
        }
        MediaCommand::Leave { rooms, peer } => rooms
            .iter()
            .map(|r| {
                (
                    r.clone(),
                    json!({"topic": "remove-user-from-groups", "d": {"roomIds": [r], "peerId": peer}}),
                )
            })
            .collect(),
        MediaCommand::Destroy { room } => one(room, "destroy-room", json!({"roomId": room})),
        MediaCommand::AddSpeaker { room, peer } => one(room, "add-speaker", json!({"roomId": room, "peerId": peer})),
        MediaCommand::CloseMedia { room, peer } => one(room, "close-media", json!({"roomId": room, "peerId": peer})),
        MediaCommand::Toggle {
            room,
            peer,
            kind,
            pause,
        } => one(
            room,
            "toggle-producer",
            json!({"roomId": room, "peerId": peer, "kind": kind, "pause": pause}),
        ),
        MediaCommand::FileTarget {
            rooms,
            owner,
            downloader,
        } => rooms
            .iter()
            .map(|r| {
                (
                    r.clone(),
                    json!({"topic": "file-target", "d": {"roomIds": [r], "peerId": owner, "downloader": downloader}}),
                )
            })
            .collect(),
        MediaCommand::Signal { room, topic, d, .. } => vec![(room.clone(), json!({"topic": topic, "d": d}))],
    }
}

fn text(d: &Value, key: &str) -> Option<String> {
    d.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn texts(d: &Value, key: &str) -> Option<Vec<String>> {
    d.get(key)?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A seed message as the command it stands for (`None`: not a command this node knows, or
/// missing its ids).
pub fn from_seed(message: &Value) -> Option<MediaCommand> {
    let topic = message.get("topic")?.as_str()?;
    let d = message.get("d")?;
    let room = || text(d, "roomId");
    let peer = || text(d, "peerId");
    Some(match topic {
        "join-as-speaker" | "join-as-new-peer" => MediaCommand::Join {
            room: room()?,
            peer: peer()?,
            role: if topic == "join-as-speaker" {
                MediaRole::Speaker
            } else {
                MediaRole::Listener
            },
        },
        "remove-user-from-groups" => MediaCommand::Leave {
            rooms: texts(d, "roomIds")?,
            peer: peer()?,
        },
        "destroy-room" => MediaCommand::Destroy { room: room()? },
        "add-speaker" => MediaCommand::AddSpeaker {
            room: room()?,
            peer: peer()?,
        },
        "close-media" => MediaCommand::CloseMedia {
            room: room()?,
            peer: peer()?,
        },
        "toggle-producer" => MediaCommand::Toggle {
            room: room()?,
            peer: peer()?,
            kind: text(d, "kind")?,
            pause: d.get("pause")?.as_bool()?,
        },
        "file-target" => MediaCommand::FileTarget {
            rooms: texts(d, "roomIds")?,
            owner: peer()?,
            downloader: text(d, "downloader")?,
        },
        t if t.starts_with('@') => MediaCommand::Signal {
            room: room()?,
            peer: peer()?,
            topic: t.to_owned(),
            d: d.clone(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_survives_the_seed_protocol() {
        let commands = vec![
            MediaCommand::Join {
                room: "5".into(),
                peer: "7".into(),
                role: MediaRole::Speaker,
            },
            MediaCommand::Join {
                room: "C1-3".into(),
                peer: "7".into(),
                role: MediaRole::Listener,
            },
            MediaCommand::Destroy { room: "5".into() },
            MediaCommand::AddSpeaker {
                room: "C1-3".into(),
                peer: "7".into(),
            },
            MediaCommand::CloseMedia {
                room: "5".into(),
                peer: "7".into(),
            },
            MediaCommand::Toggle {
                room: "5".into(),
                peer: "7".into(),
                kind: "audio".into(),
                pause: true,
            },
            MediaCommand::Signal {
                room: "5".into(),
                peer: "7".into(),
                topic: "@connect-transport".into(),
                d: json!({"roomId": "5", "peerId": "7", "direction": "send", "dtlsParameters": {}}),
            },
        ];
        for c in commands {
            let seed = to_seed(&c);
            assert_eq!(seed.len(), 1);
            assert_eq!(from_seed(&seed[0].1).as_ref(), Some(&c), "{}", seed[0].1);
        }
        // The seed's shapes, exactly.
        let join = &to_seed(&MediaCommand::Join {
            room: "5".into(),
            peer: "7".into(),
            role: MediaRole::Listener,
        })[0];
        assert_eq!(
            join.1,
            json!({"topic": "join-as-new-peer", "d": {"roomId": "5", "peerId": "7"}})
        );
    }

    #[test]
    fn commands_over_several_rooms_are_split_per_room() {
        let leave = MediaCommand::Leave {
            rooms: vec!["5".into(), "C1-3".into()],
            peer: "7".into(),
        };
        let seed = to_seed(&leave);
        assert_eq!(seed.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(), ["5", "C1-3"]);
        assert_eq!(
            seed[1].1,
            json!({"topic": "remove-user-from-groups", "d": {"roomIds": ["C1-3"], "peerId": "7"}})
        );
        let target = MediaCommand::FileTarget {
            rooms: vec!["5".into()],
            owner: "7".into(),
            downloader: "8".into(),
        };
        assert_eq!(from_seed(&to_seed(&target)[0].1), Some(target));
    }

    #[test]
    fn unknown_or_incomplete_messages_are_not_commands() {
        assert_eq!(from_seed(&json!({"topic": "create-room", "d": {"roomId": "1"}})), None);
        assert_eq!(
            from_seed(&json!({"topic": "join-as-speaker", "d": {"roomId": "1"}})),
            None
        );
        assert_eq!(
            from_seed(&json!({"topic": "toggle-producer", "d": {"roomId": "1", "peerId": "2"}})),
            None
        );
        assert_eq!(from_seed(&json!("junk")), None);
    }
}
