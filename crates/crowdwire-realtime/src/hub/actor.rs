//! A world's actor: the task around its engine, turn by turn.

use super::sockets::Sockets;
use super::{ActorMsg, Hub, IDLE_STOP, MOVED_CODE, MOVED_REASON, RealtimeSettings, permissions};
use crate::bus::Control;
use crate::outbound::WireFrame;
use crate::presence::PresenceEntry;
use crowdwire_store::Db;
use crowdwire_store::Timestamp;
use crowdwire_store::blocks::BlockKind;
use crowdwire_world::engine::{Clock, EngineConfig, Input, Output, Record, WorldEngine};
use crowdwire_world::map::WorldMap;
use crowdwire_world::proximity::ProximityConfig;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A world's capacity and status.
async fn load_settings(db: &Db, world: i64) -> (Option<u32>, i32) {
    let w = db.world_by_id(world).await.ok().flatten();
    let max = w.as_ref().and_then(|w| w.max_users).map(|m| m.max(0) as u32);
    let status = w
        .as_ref()
        .map(|w| w.status)
        .unwrap_or(crowdwire_store::worlds::status::DELETED);
    (max, status)
}

/// A world's map, parsed on a blocking thread (a large map takes a while); an open field
/// when it has none the server can use.
async fn load_map(db: &Db, world: i64) -> WorldMap {
    let open_field = || WorldMap::open_field(32_000.0, 32_000.0);
    let Ok(Some(text)) = db.world_map(world).await else {
        return open_field();
    };
    match tokio::task::spawn_blocking(move || WorldMap::parse(&text)).await {
        Ok(Ok(map)) => map,
        Ok(Err(e)) => {
            tracing::warn!(world, error = %e, "world map unusable for the server; using an open field");
            open_field()
        }
        Err(e) => {
            tracing::warn!(world, error = %e, "map parser failed; using an open field");
            open_field()
        }
    }
}

/// Persists one engine record.
async fn persist(db: &Db, settings: &RealtimeSettings, world: i64, record: Record) {
    let result = match record {
        Record::Event { member_id, kind } => db.insert_event(world, member_id, kind, Timestamp::now()).await,
        Record::Position {
            user_id,
            member_id,
            position,
        } => match member_id {
            Some(id) => db.save_member_position(world, id, position.x, position.y).await,
            None => db.save_guest_position(world, &user_id, position.x, position.y).await,
        },
        Record::Removed {
            user_id,
            member_id,
            ban,
        } => {
            let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
            let banned = match (ban, member_id) {
                (true, Some(member_id)) => {
                    let changes = crowdwire_store::members::MemberChanges {
                        status: Some(crowdwire_store::members::status::BANNED),
                        ..Default::default()
                    };
                    db.update_member(world, member_id, &changes).await.map(|_| ())
                }
                (true, None) => {
                    db.block(world, &user_id, BlockKind::Ban, micros(settings.guest_ban))
                        .await
                }
                (false, _) => Ok(()),
            };
            match banned {
                Ok(()) => {
                    db.block(world, &user_id, BlockKind::Kick, micros(settings.kick_cooldown))
                        .await
                }
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = result {
        tracing::warn!(world, error = %e, "could not persist a world record");
    }
}

/// The settings of a world's engine, run by the owner holding its lease under `fence`.
fn engine_config(hub: &Hub, world: i64, fence: u64, max_users: Option<u32>) -> EngineConfig {
    let s = &hub.settings;
    EngineConfig {
        world_id: world,
        proximity: ProximityConfig {
            radius: s.proximity_radius,
            leave_radius: s.proximity_radius * s.proximity_hysteresis,
            max_group: s.max_group_size,
        },
        interest_area: s.interest_area,
        chat_max_chars: s.chat_max_chars,
        rate_per_sec: s.rate.0,
        rate_burst: s.rate.1,
        reconnect_grace_ms: s.reconnect_grace.as_millis() as u64,
        kick_cooldown_ms: u64::try_from(s.kick_cooldown.as_millis()).unwrap_or(u64::MAX),
        max_users,
        // Above every id an earlier owner of the world handed out: fencing tokens grow, and
        // each is at least the Unix time in ms of its claim, so an owner would have to form
        // over a thousand groups a millisecond to reach the next one's ids. (They stay below
        // 2^53, exact in a JavaScript number.)
        first_group_id: fence.saturating_sub(1).saturating_mul(1000).saturating_add(1),
        media_outlives_owner: hub.media.outlives_owner(),
        ..EngineConfig::default()
    }
}

/// A world's engine, with the players its previous owner had (it died, or lost its lease):
/// they wait for their clients to reconnect, in the same place, groups and conference.
async fn start_engine(hub: &Hub, world: i64, fence: u64) -> WorldEngine {
    let (max_users, _) = load_settings(&hub.db, world).await;
    let map = load_map(&hub.db, world).await;
    let mut engine = WorldEngine::new(engine_config(hub, world, fence, max_users), map);
    let carried = hub.presence.carried(world).await;
    if !carried.is_empty() {
        tracing::info!(
            world,
            players = carried.len(),
            "world taken over; restoring its players"
        );
    }
    for r in carried {
        let _ = engine.handle(hub.clock(), Input::Restore(Box::new(r)));
    }
    engine
}

/// Writes the engine's records to the database, in order, off the actor's task.
fn spawn_recorder(hub: &Hub, world: i64) -> (mpsc::UnboundedSender<Record>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
    let db = hub.db.clone();
    let settings = hub.settings.clone();
    let task = tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            persist(&db, &settings, world, r).await;
        }
    });
    (tx, task)
}

/// How an actor's life ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// Nobody is left, the hub is gone, or the engine failed: the world closes.
    Close,
    /// Another replica holds the lease now: stop at once, leaving presence to it.
    Fenced,
    /// This replica is stopping: write presence, send the clients elsewhere, give the lease up.
    Handover,
}

/// A mailbox message about the actor's lease rather than its world.
enum LeaseMsg {
    End(End),
    Refenced(u64),
}

fn lease_msg(msg: &ActorMsg) -> Option<LeaseMsg> {
    match msg {
        ActorMsg::Fenced => Some(LeaseMsg::End(End::Fenced)),
        ActorMsg::Handover => Some(LeaseMsg::End(End::Handover)),
        ActorMsg::Refenced(f) => Some(LeaseMsg::Refenced(*f)),
        _ => None,
    }
}

/// When the world's staged output goes to its sockets: at most once per `every`, at once
/// when the last flush is that old, else at `at`.
struct Flush {
    every: Duration,
    last: tokio::time::Instant,
    at: Option<tokio::time::Instant>,
}

/// A world's actor: its engine, its sockets and its presence, turn by turn, until it ends.
pub(super) async fn run_actor(hub: Arc<Hub>, world: i64, mut fence: u64, mut rx: mpsc::Receiver<ActorMsg>) {
    let mut engine = start_engine(&hub, world, fence).await;
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();
    hub.media.attach(world, media_tx);
    let (rec_tx, recorder) = spawn_recorder(&hub, world);
    let mut sockets = Sockets::new(world, fence, hub.bus.clone());
    let mut online: HashSet<String> = HashSet::new();
    sync_presence(&hub, world, &engine, &mut online).await;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refresh = tokio::time::interval(hub.settings.presence_refresh);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut empty_since: Option<Instant> = Some(Instant::now());
    let mut flush = Flush {
        every: hub.settings.flush_interval,
        last: tokio::time::Instant::now() - hub.settings.flush_interval,
        at: None,
    };
    // The loop ends with how the actor ends, and the inputs of the turn it was gathering.
    let (end, leftover) = loop {
        let mut input = tokio::select! {
            msg = rx.recv() => match msg {
                None => break (End::Close, Vec::new()),
                Some(msg) => match lease_msg(&msg) {
                    Some(LeaseMsg::End(end)) => break (end, Vec::new()),
                    Some(LeaseMsg::Refenced(f)) => {
                        (fence, sockets.fence) = (f, f);
                        continue;
                    }
                    None => mailbox_inputs(&hub, world, msg, &mut sockets).await,
                },
            },
            _ = refresh.tick() => match refresh_inputs(&hub, world, fence, &engine, &mut sockets).await {
                Some(inputs) => inputs,
                None => break (End::Fenced, Vec::new()),
            },
            Some(first) = media_rx.recv() => media_inputs(&hub, first, &mut media_rx),
            _ = tokio::time::sleep_until(flush.at.unwrap_or_else(tokio::time::Instant::now)), if flush.at.is_some() => {
                // A turn with no input: the movements' flush below.
                Vec::new()
            }
            _ = tick.tick() => {
                if engine.population() == 0 && empty_since.is_some_and(|t| t.elapsed() >= IDLE_STOP) {
                    break (End::Close, Vec::new());
                }
                vec![(Input::Tick, hub.clock())]
            }
        };
        if let Some(end) = drain_mailbox(&hub, world, &mut rx, &mut sockets, &mut fence, &mut input).await {
            break (end, input);
        }
        let flush_due = flush.at.is_some_and(|t| t <= tokio::time::Instant::now());
        if input.is_empty() && !flush_due {
            continue;
        }
        let presence_may_change = input
            .iter()
            .any(|(i, _)| !matches!(i, Input::Frame { .. } | Input::MediaMessage { .. }));
        let Some(any_close) = run_turn(&hub, world, &mut engine, &mut sockets, &rec_tx, input, &mut flush) else {
            sockets.close_all(1011, "internal error; please reconnect");
            break (End::Close, Vec::new());
        };
        if presence_may_change || any_close {
            sync_presence(&hub, world, &engine, &mut online).await;
        }
        empty_since = if engine.population() == 0 {
            empty_since.or(Some(Instant::now()))
        } else {
            None
        };
    };
    if end == End::Handover {
        // An orderly stop: what its sockets sent before the stop is taken, and its output
        // goes out, before the world moves (a deposed owner's turn, by contrast, is void).
        let mut input = leftover;
        while let Ok(msg) = rx.try_recv() {
            if lease_msg(&msg).is_none() {
                input.extend(mailbox_inputs(&hub, world, msg, &mut sockets).await);
            }
        }
        flush.last = tokio::time::Instant::now() - flush.every;
        let _ = run_turn(&hub, world, &mut engine, &mut sockets, &rec_tx, input, &mut flush);
    }
    hub.media.detach(world);
    stop(&hub, world, fence, &engine, &mut sockets, online, end).await;
    drop(rec_tx);
    let _ = recorder.await;
}

/// The presence refresh's turn: the inputs of sessions held by replicas that died, or `None`
/// when another replica owns the world now.
async fn refresh_inputs(
    hub: &Hub,
    world: i64,
    fence: u64,
    engine: &WorldEngine,
    sockets: &mut Sockets,
) -> Option<Vec<(Input, Clock)>> {
    if !refresh_presence(hub, world, fence, engine).await {
        tracing::warn!(world, "another replica owns this world now; stopping it here");
        return None;
    }
    // Sessions held by a replica that died are dropped connections: their players
    // keep their place for the reconnection grace, then leave.
    let dead = sockets.on_dead_replicas(hub).await;
    let now = hub.clock();
    Some(
        dead.into_iter()
            .map(|session| (Input::Closed { session, clean: false }, now))
            .collect(),
    )
}

/// A media message's turn. Group changes come in bursts, each with media replies: take what
/// else waits in the same turn.
fn media_inputs(
    hub: &Hub,
    (peer, text): (String, String),
    media_rx: &mut mpsc::UnboundedReceiver<(String, String)>,
) -> Vec<(Input, Clock)> {
    let now = hub.clock();
    let mut inputs = vec![(media_input(peer, text), now)];
    while inputs.len() < TURN_INPUTS {
        match media_rx.try_recv() {
            Ok((peer, text)) => inputs.push((media_input(peer, text), now)),
            Err(_) => break,
        }
    }
    inputs
}

/// Takes what else waits in the mailbox (up to a bound) into the same turn: under load a turn
/// then covers many moves, and each socket gets their frames in one hand-over. Returns how
/// the actor ends, when a message says so (`input` then holds what came before it).
async fn drain_mailbox(
    hub: &Hub,
    world: i64,
    rx: &mut mpsc::Receiver<ActorMsg>,
    sockets: &mut Sockets,
    fence: &mut u64,
    input: &mut Vec<(Input, Clock)>,
) -> Option<End> {
    while input.len() < TURN_INPUTS {
        let Ok(msg) = rx.try_recv() else { break };
        match lease_msg(&msg) {
            Some(LeaseMsg::End(end)) => return Some(end),
            Some(LeaseMsg::Refenced(f)) => (*fence, sockets.fence) = (f, f),
            None => input.extend(mailbox_inputs(hub, world, msg, sockets).await),
        }
    }
    None
}

/// One turn: the inputs through the engine, the outputs carried out, and (when due) the
/// movements' flush and the sockets' hand-over. Returns whether a socket was closed, or
/// `None` when the engine panicked (a bug must not strand the world's sessions: the caller
/// closes every socket, so clients reconnect to a fresh actor).
fn run_turn(
    hub: &Hub,
    world: i64,
    engine: &mut WorldEngine,
    sockets: &mut Sockets,
    records: &mpsc::UnboundedSender<Record>,
    input: Vec<(Input, Clock)>,
    flush: &mut Flush,
) -> Option<bool> {
    let mut pending: Vec<(Input, Clock)> = input.into_iter().rev().collect();
    let mut any_close = false;
    let mut flushed = false;
    loop {
        while let Some((input, clock)) = pending.pop() {
            let outputs = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.handle(clock, input))) {
                Ok(o) => o,
                Err(_) => {
                    tracing::error!(world, "world engine panicked; restarting the world");
                    return None;
                }
            };
            for out in outputs {
                match out {
                    Output::Send { to, frame } => sockets.stage(to, frame.into()),
                    Output::Fanout { to, frame } => {
                        let frame = WireFrame::from(frame);
                        for s in to {
                            sockets.stage(s, frame.clone());
                        }
                    }
                    Output::Moves(batch) => sockets.stage_moves(batch),
                    Output::Close { session, code, reason } => {
                        any_close = true;
                        sockets.close(session, code, reason);
                    }
                    Output::Media(cmd) => hub.media.command(world, cmd),
                    Output::Record(r) => {
                        let _ = records.send(r);
                    }
                }
            }
        }
        if !flushed {
            let now = tokio::time::Instant::now();
            if now < flush.last + flush.every {
                // Staged until the world's next flush.
                break;
            }
            // The movements accepted since the last flush, once per mover, then everything
            // staged goes to the sockets.
            flushed = true;
            flush.last = now;
            pending.push((Input::Flush, hub.clock()));
            continue;
        }
        // Readers too slow for their queue's bound are cut off: a dropped connection (its
        // client reconnects, and resumes its place within the grace).
        let overflowed = sockets.flush();
        if overflowed.is_empty() {
            break;
        }
        pending.extend(
            overflowed
                .into_iter()
                .map(|session| (Input::Closed { session, clean: false }, hub.clock())),
        );
    }
    if flushed {
        flush.at = None;
    }
    if flush.at.is_none() && (sockets.has_staged() || engine.has_pending_moves()) {
        flush.at = Some(flush.last + flush.every);
    }
    Some(any_close)
}

/// The end of an actor's life.
async fn stop(
    hub: &Hub,
    world: i64,
    fence: u64,
    engine: &WorldEngine,
    sockets: &mut Sockets,
    mut online: HashSet<String>,
    end: End,
) {
    let release = || async {
        if let Err(e) = hub.leases.release(world, &hub.replica, fence).await {
            tracing::debug!(world, error = %e, "world lease not released; it lapses by itself");
        }
    };
    match end {
        // The new owner has the players (restored from presence): the clients of sockets here
        // reconnect there; sockets re-attached by a hub (on other replicas, or here after the
        // world moved here) stay open and connect to it again. Presence and the lease are its
        // to keep (a stopping replica writes presence once more and gives the lease up, so the
        // world moves at once).
        End::Fenced => sockets.hand_off(hub, false),
        End::Handover => {
            refresh_presence(hub, world, fence, engine).await;
            sockets.hand_off(hub, true);
            release().await;
        }
        End::Close => {
            sockets.close_all(1001, "world closing");
            for u in online.drain() {
                hub.presence.leave(world, &u).await;
            }
            release().await;
        }
    }
}

/// Most mailbox messages one actor turn takes.
const TURN_INPUTS: usize = 256;

/// The engine input of a message from the media layer: for a peer, or (the empty peer) for
/// the world itself: a room whose media server is gone ([`crate::media::room_lost`]).
fn media_input(peer: String, text: String) -> Input {
    if peer.is_empty() {
        return Input::MediaRoomLost { room: text };
    }
    Input::MediaMessage { peer, text }
}

/// The engine inputs of one mailbox message (keeping `sockets` in step).
async fn mailbox_inputs(hub: &Hub, world: i64, msg: ActorMsg, sockets: &mut Sockets) -> Vec<(Input, Clock)> {
    let now = hub.clock();
    match msg {
        ActorMsg::Connect {
            session,
            profile,
            sink,
            resumed,
        } => {
            sockets.insert(session, sink);
            vec![(
                Input::Connect {
                    session,
                    profile,
                    resumed,
                },
                now,
            )]
        }
        ActorMsg::Frame {
            session,
            message,
            at,
            seq,
        } => {
            if seq > 0 {
                sockets.ack(session, seq);
            }
            vec![(Input::Frame { session, message }, at)]
        }
        ActorMsg::Closed { session, clean } => {
            sockets.remove(session);
            vec![(Input::Closed { session, clean }, now)]
        }
        ActorMsg::Control(c) => control_inputs(hub, world, c)
            .await
            .into_iter()
            .map(|i| (i, now))
            .collect(),
        ActorMsg::Moving(session) => {
            // A dropped connection from now on: the player keeps its place (and what is said to
            // it) until its client comes back through another replica. Its socket's end,
            // reported later, changes nothing more.
            sockets.close(session, MOVED_CODE, MOVED_REASON.into());
            vec![(Input::Closed { session, clean: false }, now)]
        }
        ActorMsg::Fenced | ActorMsg::Refenced(_) | ActorMsg::Handover => Vec::new(),
    }
}

fn presence_entry(hub: &Hub, engine: &WorldEngine, user: &str) -> Option<PresenceEntry> {
    Some(PresenceEntry {
        player: engine.restorable(user)?,
        replica: hub.replica.to_string(),
    })
}

async fn sync_presence(hub: &Hub, world: i64, engine: &WorldEngine, online: &mut HashSet<String>) {
    let now: HashSet<String> = engine.user_ids().map(str::to_owned).collect();
    for gone in online.difference(&now) {
        hub.presence.leave(world, gone).await;
    }
    for new in now.difference(online) {
        if let Some(entry) = presence_entry(hub, engine, new) {
            hub.presence.join(world, new, entry).await;
        }
    }
    *online = now;
}

/// Rewrites the world's presence (positions, conferences); false when the world's lease
/// belongs to another replica now. A store that cannot be reached is not a lost lease: the
/// world goes on, and the next refresh after the store returns rewrites everything.
async fn refresh_presence(hub: &Hub, world: i64, fence: u64, engine: &WorldEngine) -> bool {
    let entries: Vec<(String, PresenceEntry)> = engine
        .user_ids()
        .filter_map(|u| presence_entry(hub, engine, u).map(|e| (u.to_owned(), e)))
        .collect();
    match hub.presence.refresh(world, fence, &entries).await {
        Ok(held) => held,
        Err(e) => {
            tracing::debug!(world, error = %e, "presence not refreshed");
            true
        }
    }
}

async fn control_inputs(hub: &Hub, world: i64, c: Control) -> Vec<Input> {
    match c {
        Control::Evict { user, reason, .. } => vec![Input::Evict { user_id: user, reason }],
        Control::CloseWorld { reason, .. } => vec![Input::CloseWorld { reason }],
        Control::RoleChanged { user, role_id, .. } => match hub.db.role_in_world(world, role_id).await {
            Ok(Some(role)) => vec![Input::RoleChanged {
                user_id: user,
                role: permissions(&role),
            }],
            _ => Vec::new(),
        },
        Control::RoleUpdated { role_id, .. } => match hub.db.role_in_world(world, role_id).await {
            Ok(Some(role)) => vec![Input::RoleUpdated {
                role: permissions(&role),
            }],
            _ => Vec::new(),
        },
        Control::WorldUpdated { map_changed, .. } => {
            let (max, status) = load_settings(&hub.db, world).await;
            if status != crowdwire_store::worlds::status::NORMAL {
                return vec![Input::CloseWorld {
                    reason: "This world is no longer available.".into(),
                }];
            }
            let mut inputs = vec![Input::MaxUsersChanged(max)];
            if map_changed {
                inputs.push(Input::MapChanged(Box::new(load_map(&hub.db, world).await)));
            }
            inputs
        }
    }
}
