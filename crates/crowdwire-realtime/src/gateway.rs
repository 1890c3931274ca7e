//! The WebSocket endpoint: `/api/v1/ws/{world_id}?token=…` (and `/ws/{world_id}`).
//!
//! It authorises the connection (docs/protocol.md, "Connecting"; the rules are
//! `crowdwire_access::admit`, the same as over REST),
//! loads the user's profile in the world, then runs two halves: a reader that parses each
//! frame into a typed message at the edge and hands it to the world's actor, and a writer
//! that drains the socket's bounded queue (one message per frame, or, with `?batch=1`, one
//! JSON array per frame, handed over at most every `flush_interval`, 16 ms by default).
//!
//! The writer also pings the client every `ping_interval`; the reader ends a socket from
//! which nothing (not even a pong) has arrived for `idle_timeout` as a dropped connection, so
//! a network path that died silently is found in seconds and the world keeps the player's
//! place for the reconnection grace.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

use crowdwire_access::{AccessError, admit, msg};
use crowdwire_auth::Purpose;
use crowdwire_world::engine::{Clock, FULL_REASON, Profile};
use crowdwire_world::protocol::{ClientMessage, ParseError};

use crate::hub::{ActorMsg, Hub, Place, Sink, permissions};
use crate::outbound::{Item, Outbound, WireFrame};
use crate::wire::Body;

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
/// so its default (128 KiB) would be resident for every connection; client frames are small
/// (a movement is ~130 bytes), and the buffer still grows for a larger one (up to
/// `max_frame_bytes`).
const READ_BUFFER_BYTES: usize = 1024;

/// Bytes of frames the socket's writer gathers before writing them out (within one drain,
/// which ends with a flush anyway). tungstenite's buffer keeps the largest size it reached,
/// so its default (128 KiB) would stay resident for a socket that once had a burst to write.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;

async fn upgrade(hub: Arc<Hub>, ws: WebSocketUpgrade, Path(world): Path<String>, Query(q): Query<WsQuery>) -> Response {
    let max = hub.settings.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| serve(hub, socket, world, q))
}

/// Closes a socket that may not join, with 1008 and the reason.
async fn refuse(socket: WebSocket, reason: &str) {
    close_with(socket, 1008, reason).await;
}

/// Closes a socket that may try again shortly (1013), with the reason: the client reconnects.
async fn refuse_for_now(socket: WebSocket, reason: &str) {
    close_with(socket, 1013, reason).await;
}

async fn close_with(mut socket: WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.to_owned()),
        })))
        .await;
}

/// Who may connect, as whom, and the world's capacity (the admission rules are
/// [`crowdwire_access::admit`], the same as over REST).
async fn authorise(
    hub: &Hub,
    world_id: &str,
    token: Option<&str>,
) -> Result<(i64, Profile, Option<u32>), &'static str> {
    let world_id: i64 = world_id.parse().map_err(|_| "invalid world id")?;
    let token = token.ok_or("missing token")?;
    let verified = hub
        .keys
        .verify(token, Purpose::Access, true)
        .map_err(|_| msg::COULD_NOT_VALIDATE)?;
    let entrant = admit(&hub.db, world_id, &verified).await.map_err(|e| match e {
        AccessError::Refused(why) => why,
        AccessError::Store(_) => "database unavailable",
        AccessError::Internal(e) => {
            tracing::warn!(world = world_id, error = %e, "could not admit a socket");
            "could not enter the world; try again"
        }
    })?;
    let max_users = entrant.world.max_users.map(|m| m.max(0) as u32);
    let profile = Profile {
        user_id: entrant.user_id,
        member_id: entrant.member_id,
        username: entrant.username,
        avatar: entrant.avatar,
        role: permissions(&entrant.role),
        creator: entrant.creator,
    };
    Ok((world_id, profile, max_users))
}

/// Why a socket was closed when the steps before its session took longer than
/// [`crate::RealtimeSettings::handshake_timeout`].
const HANDSHAKE_TIMEOUT_REASON: &str = "the server is slow to admit you; try again";

async fn serve(hub: Arc<Hub>, socket: WebSocket, world: String, q: WsQuery) {
    // The steps before the session starts share one deadline: a database or presence store
    // that hangs must not hold sockets open without an answer (security review F6).
    let deadline = tokio::time::Instant::now() + hub.settings.handshake_timeout;
    // The futures of these steps are boxed: inline, the largest of them (database queries)
    // would size this task's state for as long as the socket lives.
    let authorised = tokio::time::timeout_at(deadline, Box::pin(authorise(&hub, &world, q.token.as_deref())));
    let (world_id, profile, max_users) = match authorised.await {
        Ok(Ok(ok)) => ok,
        Ok(Err(reason)) => return refuse(socket, reason).await,
        Err(_) => return refuse_for_now(socket, HANDSHAKE_TIMEOUT_REASON).await,
    };
    // A place in the world, held atomically across replicas. (The world's engine checks the
    // capacity again; when presence cannot be reached, that check is the one that holds.)
    let reserved = tokio::time::timeout_at(deadline, hub.presence.reserve(world_id, &profile.user_id, max_users));
    match reserved.await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return refuse(socket, FULL_REASON).await,
        Ok(Err(e)) => tracing::debug!(world = world_id, error = %e, "capacity not reserved"),
        Err(_) => return refuse_for_now(socket, HANDSHAKE_TIMEOUT_REASON).await,
    }
    let place = match tokio::time::timeout_at(deadline, Box::pin(hub.place(world_id))).await {
        Ok(Ok(place)) => place,
        Ok(Err(reason)) => return refuse_for_now(socket, reason).await,
        Err(_) => return refuse_for_now(socket, HANDSHAKE_TIMEOUT_REASON).await,
    };
    let batch = matches!(q.batch.as_deref(), Some("1" | "true"));
    let session = hub.next_session();
    let outbound = Arc::new(Outbound::new(hub.settings.outbound_bound));
    match &place {
        Place::Local(actor) => {
            let connect = ActorMsg::Connect {
                session,
                profile,
                sink: Sink::Local(outbound.clone()),
                resumed: false,
            };
            if actor.send(connect).await.is_err() {
                return refuse_for_now(socket, "world unavailable, try again").await;
            }
        }
        Place::Remote(owner) => {
            if !hub.bus.healthy() {
                return refuse_for_now(socket, "the server cannot reach its message broker; try again shortly").await;
            }
            hub.attach_remote(session, world_id, owner.clone(), profile.clone(), outbound.clone());
            hub.bus.send(
                &owner.replica,
                Body::Connect {
                    world: world_id,
                    session,
                    profile,
                    resumed: false,
                },
            );
        }
    }
    let (sink, mut stream) = socket.split();
    let writer = tokio::spawn(write(sink, outbound.clone(), batch, hub.settings.ping_interval));
    let clean = match &place {
        Place::Local(actor) => read_local(&hub, &mut stream, actor, session, &writer).await,
        Place::Remote(_) => read_remote(&hub, &mut stream, world_id, session, &outbound, &writer).await,
    };
    match &place {
        Place::Local(actor) => {
            let _ = actor.send(ActorMsg::Closed { session, clean }).await;
        }
        Place::Remote(_) => hub.detach_remote(session, clean).await,
    }
    outbound.close(1000, String::new());
    let _ = writer.await;
}

/// Drains the socket's queue into the socket until the queue closes (or the socket fails),
/// and pings the client every `ping_every` (its pongs keep the reader's [`Silence`] away).
async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    queue: Arc<Outbound>,
    batch: bool,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The world hands a socket its frames at most once per flush interval, all at once, so
    // each wake-up here is one write (one array when batched).
    loop {
        tokio::select! {
            () = queue.wait() => {}
            _ = ping.tick() => {
                if sink.send(Message::Ping(bytes::Bytes::new())).await.is_err() {
                    return;
                }
                continue;
            }
        }
        let (items, close) = queue.drain();
        let sent = if batch {
            write_batched(&mut sink, &items).await
        } else {
            write_each(&mut sink, &items).await
        };
        if sent.is_err() {
            return;
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
}

type WsSink = futures_util::stream::SplitSink<WebSocket, Message>;

/// `?batch=1`: everything drained goes out as one JSON array (`PONG`, plain text rather
/// than JSON, keeps its own frame).
async fn write_batched(sink: &mut WsSink, items: &[Item]) -> Result<(), axum::Error> {
    let mut frames: Vec<&WireFrame> = Vec::new();
    for item in items {
        match item {
            Item::Frame(f) => frames.push(f),
            Item::Moves(m) => frames.extend(m.frames()),
        }
    }
    let (pongs, json): (Vec<&WireFrame>, Vec<&WireFrame>) = frames.into_iter().partition(|f| &*f.text == "PONG");
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
        sink.send(Message::Text(text.into())).await?;
    }
    for _ in pongs {
        sink.send(Message::Text("PONG".into())).await?;
    }
    Ok(())
}

/// One message per frame, as the original client reads them: queued together, then written
/// out with one flush (and usually one syscall) per drain rather than per frame.
async fn write_each(sink: &mut WsSink, items: &[Item]) -> Result<(), axum::Error> {
    if items.is_empty() {
        return Ok(());
    }
    for item in items {
        match item {
            Item::Frame(f) => sink.feed(Message::Text(f.text.clone())).await?,
            Item::Moves(m) => {
                // Copied into one buffer of this writer's own, then sliced: the turn's shared
                // frames are read here but never reference-counted from every writer's core.
                let mut buf = bytes::BytesMut::with_capacity(m.frames().map(|f| f.text.len()).sum());
                let mut ends = Vec::with_capacity(m.picks.len());
                for f in m.frames() {
                    buf.extend_from_slice(f.text.as_bytes());
                    ends.push(buf.len());
                }
                let all = buf.freeze();
                let mut start = 0;
                for end in ends {
                    if let Ok(text) = Utf8Bytes::try_from(all.slice(start..end)) {
                        sink.feed(Message::Text(text)).await?;
                    }
                    start = end;
                }
            }
        }
    }
    sink.flush().await
}

/// What the reader does with one socket message.
enum Read {
    /// A text frame.
    Text(Utf8Bytes),
    /// A frame the server cannot take (binary).
    Invalid(ParseError),
    /// Nothing to pass on (ping, pong).
    Skip,
    /// The client closed (`true`), or the connection dropped (`false`).
    End(bool),
}

fn classify(next: Option<Result<Message, axum::Error>>) -> Read {
    match next {
        None | Some(Err(_)) => Read::End(false),
        Some(Ok(Message::Text(t))) => Read::Text(t),
        Some(Ok(Message::Binary(_))) => Read::Invalid(ParseError {
            topic: None,
            message: "binary frames are not supported; send JSON text".into(),
        }),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Read::Skip,
        Some(Ok(Message::Close(_))) => Read::End(true),
    }
}

/// A reader's watch for a socket gone silent: nothing from it (no frame of any kind) for
/// the idle timeout. The timer is set again only when it fires, not at every frame.
struct Silence {
    idle: Duration,
    heard: tokio::time::Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Silence {
    fn new(idle: Duration) -> Silence {
        Silence {
            idle,
            heard: tokio::time::Instant::now(),
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// Something arrived.
    fn heard(&mut self) {
        self.heard = tokio::time::Instant::now();
    }

    /// Completes once nothing has arrived for the idle timeout.
    async fn elapsed(&mut self) {
        loop {
            self.timer.as_mut().await;
            let until = self.heard + self.idle;
            if tokio::time::Instant::now() >= until {
                return;
            }
            self.timer.as_mut().reset(until);
        }
    }
}

/// Reads a socket whose world runs here into its actor's mailbox; returns whether it closed
/// cleanly.
async fn read_local(
    hub: &Hub,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    actor: &mpsc::Sender<ActorMsg>,
    session: crowdwire_world::engine::SessionId,
    writer: &tokio::task::JoinHandle<()>,
) -> bool {
    let mut silence = Silence::new(hub.settings.idle_timeout);
    // When the world's mailbox is full, the newest unsent move waits here and replaces the
    // one before it, so an overloaded world sheds stale positions instead of letting them
    // pile up (and age) in the socket buffers; every other message waits its turn.
    let mut pending_move: Option<(ClientMessage, Clock)> = None;
    loop {
        // Silence is the last thing looked at: after the reader waited for the world (its
        // mailbox full), what the client sent meanwhile is read before its silence counts.
        let next = tokio::select! {
            biased;
            permit = actor.reserve(), if pending_move.is_some() => {
                let Ok(permit) = permit else { return false };
                let (m, at) = pending_move.take().expect("guarded");
                permit.send(ActorMsg::Frame {
                    session,
                    message: Ok(m),
                    at,
                    seq: 0,
                });
                continue;
            }
            next = stream.next() => next,
            () = silence.elapsed() => return false,
        };
        silence.heard();
        let at = hub.clock();
        let message = match classify(next) {
            Read::End(clean) => return clean,
            Read::Skip => continue,
            Read::Invalid(e) => Err(e),
            Read::Text(t) => ClientMessage::parse(t.as_str()),
        };
        if let Ok(m @ ClientMessage::PlayerMovement { .. }) = message {
            match actor.try_reserve() {
                Ok(permit) => {
                    pending_move = None;
                    permit.send(ActorMsg::Frame {
                        session,
                        message: Ok(m),
                        at,
                        seq: 0,
                    });
                }
                Err(mpsc::error::TrySendError::Full(())) => pending_move = Some((m, at)),
                Err(mpsc::error::TrySendError::Closed(())) => return false,
            }
        } else {
            if let Some((m, moved_at)) = pending_move.take()
                && actor
                    .send(ActorMsg::Frame {
                        session,
                        message: Ok(m),
                        at: moved_at,
                        seq: 0,
                    })
                    .await
                    .is_err()
            {
                return false;
            }
            if actor
                .send(ActorMsg::Frame {
                    session,
                    message,
                    at,
                    seq: 0,
                })
                .await
                .is_err()
            {
                return false;
            }
        }
        if writer.is_finished() {
            // The server closed this session (kicked, replaced, too slow).
            return true;
        }
    }
}

/// How often a socket whose world runs on another replica looks whether the server closed it
/// (its owner moved: the hub watches owners for all such sockets at once; or it was kicked).
const CLOSED_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Reads a socket whose world runs on another replica to the world's current owner; returns
/// whether it closed cleanly. When the owner changes, the hub re-attaches the session to the
/// new owner (which may be this replica) and the socket stays open; when the bus cannot be
/// reached, the hub closes it with [`crate::hub::MOVED_CODE`] and the client reconnects.
async fn read_remote(
    hub: &Hub,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    world: i64,
    session: crowdwire_world::engine::SessionId,
    outbound: &Outbound,
    writer: &tokio::task::JoinHandle<()>,
) -> bool {
    let mut silence = Silence::new(hub.settings.idle_timeout);
    let mut check = tokio::time::interval(CLOSED_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Silence last, as in `read_local`.
        let next = tokio::select! {
            biased;
            _ = check.tick() => {
                if writer.is_finished() {
                    // Closed by the server: a clean end, unless it cut a reader off for
                    // being too slow (that one comes back and resumes).
                    return !outbound.overflowed();
                }
                continue;
            }
            next = stream.next() => next,
            () = silence.elapsed() => return false,
        };
        silence.heard();
        match classify(next) {
            Read::End(clean) => return clean,
            Read::Skip => {}
            Read::Invalid(e) => {
                let text = crowdwire_world::protocol::ServerMessage::error(e.topic.as_deref(), e.message).to_json();
                let _ = outbound.push(crate::outbound::WireFrame {
                    text: text.into(),
                    coalesce: None,
                });
            }
            Read::Text(t) => hub.forward_frame(world, session, t.as_str()).await,
        }
        if writer.is_finished() {
            return !outbound.overflowed();
        }
    }
}
