//! The WebSocket endpoint: `/api/v1/ws/{world_id}?token=…` (and `/ws/{world_id}`).
//!
//! It authorises the connection (spec §3.6, plus the platform ban the original missed),
//! loads the user's profile in the world, then runs two halves: a reader that parses each
//! frame into a typed message at the edge and hands it to the world's actor, and a writer
//! that drains the socket's bounded queue (one message per frame, or, with `?batch=1`, one
//! JSON array per frame flushed at least every 50 ms).

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

use crowdwire_api::access::{enter_as_guest, enter_as_member};
use crowdwire_auth::{Principal, Purpose};
use crowdwire_store::roles::Role;
use crowdwire_store::{Db, members, users, worlds};
use crowdwire_world::engine::{Clock, Profile};
use crowdwire_world::protocol::{ClientMessage, ParseError};

use crate::hub::{ActorMsg, Hub, permissions, wire_id};
use crate::outbound::Outbound;

/// The WebSocket routes, to merge into the HTTP application.
pub fn router<S: Clone + Send + Sync + 'static>(hub: Arc<Hub>) -> Router<S> {
    let h1 = hub.clone();
    Router::new()
        .route(
            "/api/v1/ws/{world_id}",
            get(move |ws, p, q| upgrade(h1.clone(), ws, p, q)),
        )
        .route("/ws/{world_id}", get(move |ws, p, q| upgrade(hub.clone(), ws, p, q)))
}

/// Query of the WebSocket URL.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// Access token.
    token: Option<String>,
    /// `1` for batched frames.
    batch: Option<String>,
}

/// Initial read buffer of a socket. tungstenite zero-fills the whole buffer before each read,
/// so its default (128 KiB) would be resident for every connection; client frames are small,
/// and the buffer still grows for a larger one (up to `max_frame_bytes`).
const READ_BUFFER_BYTES: usize = 8 * 1024;

async fn upgrade(hub: Arc<Hub>, ws: WebSocketUpgrade, Path(world): Path<String>, Query(q): Query<WsQuery>) -> Response {
    let max = hub.settings.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve(hub, socket, world, q))
}

/// Closes a socket that may not join, with 1008 and the reason.
async fn refuse(mut socket: WebSocket, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1008,
            reason: Utf8Bytes::from(reason.to_owned()),
        })))
        .await;
}

/// The role a member or guest holds in the world.
async fn role_of(db: &Db, world_id: i64, role_id: i64) -> Result<Role, &'static str> {
    db.role_in_world(world_id, role_id)
        .await
        .map_err(|_| "database unavailable")?
        .ok_or("role missing")
}

/// Who may connect, and as whom.
async fn authorise(hub: &Hub, world_id: &str, token: Option<&str>) -> Result<(i64, Profile), &'static str> {
    let world_id: i64 = world_id.parse().map_err(|_| "invalid world id")?;
    let token = token.ok_or("missing token")?;
    let (principal, _) = hub
        .keys
        .verify(token, Purpose::Access, true)
        .map_err(|_| "Could not validate credentials")?;
    let db = &hub.db;
    let world = db
        .world_by_id(world_id)
        .await
        .map_err(|_| "database unavailable")?
        .filter(|w| w.status == worlds::status::NORMAL)
        .ok_or("World Not Found or is not currently available.")?;
    let profile = match principal {
        Principal::User(id) => {
            let user = db
                .user_by_id(id)
                .await
                .map_err(|_| "database unavailable")?
                .ok_or("User not found")?;
            if user.status != users::status::NORMAL {
                return Err("User is Inactive or the account has been banned.");
            }
            // Connecting without the REST join first enters a public world as a newcomer.
            let (member, role) = match db.member(world_id, id).await.map_err(|_| "database unavailable")? {
                Some(m) => {
                    let role = role_of(db, world_id, m.role_id).await?;
                    (m, role)
                }
                None if world.public => enter_as_member(db, &world, &user)
                    .await
                    .map_err(|_| "could not enter the world; try again")?,
                None => return Err("World Not Found or is not currently available."),
            };
            if member.status == members::status::BANNED {
                return Err("World Not Found or is not currently available.");
            }
            Profile {
                user_id: wire_id(principal),
                member_id: Some(id),
                username: member.username.unwrap_or(user.name),
                avatar: member
                    .avatar
                    .unwrap_or_else(|| crowdwire_api::access::random_avatar().into()),
                role: permissions(&role),
                creator: world.creator == Some(id),
            }
        }
        Principal::Guest(g) => {
            if !world.allow_guests {
                return Err("World Not Found or is not currently available.");
            }
            let gid = g.hyphenated().to_string();
            let (guest, role) = match db.guest(world_id, &gid).await.map_err(|_| "database unavailable")? {
                Some(p) => {
                    let role = role_of(db, world_id, p.role_id).await?;
                    (p, role)
                }
                None if world.public => enter_as_guest(db, &world, &g)
                    .await
                    .map_err(|_| "could not enter the world; try again")?,
                None => return Err("World Not Found or is not currently available."),
            };
            Profile {
                user_id: gid,
                member_id: None,
                username: guest.username.unwrap_or_else(|| "Guest".into()),
                avatar: guest
                    .avatar
                    .unwrap_or_else(|| crowdwire_api::access::random_avatar().into()),
                role: permissions(&role),
                creator: false,
            }
        }
    };
    Ok((world_id, profile))
}

async fn serve(hub: Arc<Hub>, socket: WebSocket, world: String, q: WsQuery) {
    let (world_id, profile) = match authorise(&hub, &world, q.token.as_deref()).await {
        Ok(ok) => ok,
        Err(reason) => return refuse(socket, reason).await,
    };
    let batch = matches!(q.batch.as_deref(), Some("1" | "true"));
    let session = hub.next_session();
    let outbound = Arc::new(Outbound::new(hub.settings.outbound_bound));
    let actor = hub.actor(world_id);
    if actor
        .send(ActorMsg::Connect {
            session,
            profile,
            outbound: outbound.clone(),
        })
        .await
        .is_err()
    {
        return refuse(socket, "world unavailable, try again").await;
    }
    let (mut sink, mut stream) = socket.split();
    let interval = hub.settings.batch_interval;
    let writer_q = outbound.clone();
    let writer = tokio::spawn(async move {
        loop {
            writer_q.wait().await;
            if batch {
                tokio::time::sleep(interval).await;
            }
            let (frames, close) = writer_q.drain();
            if batch && !frames.is_empty() {
                // `PONG` is plain text, not JSON: it keeps its own frame.
                let (pongs, json): (Vec<_>, Vec<_>) = frames.into_iter().partition(|f| &*f.text == "PONG");
                if !json.is_empty() {
                    let mut text = String::with_capacity(json.iter().map(|f| f.text.len() + 1).sum::<usize>() + 2);
                    text.push('[');
                    for (i, f) in json.iter().enumerate() {
                        if i > 0 {
                            text.push(',');
                        }
                        text.push_str(&f.text);
                    }
                    text.push(']');
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                for _ in pongs {
                    if sink.send(Message::Text("PONG".into())).await.is_err() {
                        return;
                    }
                }
            } else if !frames.is_empty() {
                // Queue every frame, then write them out together: one flush (and usually
                // one syscall) per drain rather than per frame.
                for f in frames {
                    if sink.feed(Message::Text(f.text)).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            if let Some((code, reason)) = close {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
                let _ = sink.close().await;
                return;
            }
        }
    });
    let idle = hub.settings.idle_timeout;
    // When the world's mailbox is full, the newest unsent move waits here and replaces the
    // one before it, so an overloaded world sheds stale positions instead of letting them
    // pile up (and age) in the socket buffers; every other message waits its turn.
    let mut pending_move: Option<(ClientMessage, Clock)> = None;
    let clean = loop {
        let next = tokio::select! {
            permit = actor.reserve(), if pending_move.is_some() => {
                let Ok(permit) = permit else { break false };
                let (m, at) = pending_move.take().expect("guarded");
                permit.send(ActorMsg::Frame { session, message: Ok(m), at });
                continue;
            }
            next = tokio::time::timeout(idle, stream.next()) => next,
        };
        let msg = match next {
            Err(_) => break false,
            Ok(None) | Ok(Some(Err(_))) => break false,
            Ok(Some(Ok(m))) => m,
        };
        let at = hub.clock();
        let message = match msg {
            Message::Text(t) => ClientMessage::parse(t.as_str()),
            Message::Binary(_) => Err(ParseError {
                topic: None,
                message: "binary frames are not supported; send JSON text".into(),
            }),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => break true,
        };
        if let Ok(m @ ClientMessage::PlayerMovement { .. }) = message {
            match actor.try_reserve() {
                Ok(permit) => {
                    pending_move = None;
                    permit.send(ActorMsg::Frame {
                        session,
                        message: Ok(m),
                        at,
                    });
                }
                Err(mpsc::error::TrySendError::Full(())) => pending_move = Some((m, at)),
                Err(mpsc::error::TrySendError::Closed(())) => break false,
            }
        } else {
            if let Some((m, moved_at)) = pending_move.take()
                && actor
                    .send(ActorMsg::Frame {
                        session,
                        message: Ok(m),
                        at: moved_at,
                    })
                    .await
                    .is_err()
            {
                break false;
            }
            if actor.send(ActorMsg::Frame { session, message, at }).await.is_err() {
                break false;
            }
        }
        if writer.is_finished() {
            // The server closed this session (kicked, replaced, too slow).
            break true;
        }
    };
    let _ = actor.send(ActorMsg::Closed { session, clean }).await;
    outbound.close(1000, String::new());
    let _ = writer.await;
}
