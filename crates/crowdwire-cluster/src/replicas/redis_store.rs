//! Presence and world leases in Redis.
//!
//! Keys (the seed's layout where it had one; every value is plain text or JSON):
//!
//! | key | type | content | lifetime |
//! |---|---|---|---|
//! | `world:{w}:user:{u}` | hash | `username`, `avatar`, `x`, `y`, `replica`, `conference`, `speaker`, `player` (JSON of what a new owner restores) | refreshed by the world's owner; expires after the entry TTL |
//! | `world:{w}:users` | sorted set | user ids, scored by the Unix ms their entry expires | members past their score are stale and pruned |
//! | `world:{w}:online_users` | string | the count of fresh members (the seed's counter) | rewritten on every change |
//! | `presence:users` | sorted set | `{w}:{u}`, scored like `world:{w}:users`: the platform total | pruned on read |
//! | `world:{w}:owner` | string | `{"replica": id, "fence": n}`: the world's lease | the lease TTL, renewed by its holder |
//! | `world:{w}:fence` | string | the last fencing token handed out for the world | kept |
//! | `crowdwire:replica_seq` | string | a counter giving each replica its session-id prefix | kept |
//! | `crowdwire:replicas` | sorted set | replica ids, scored by the Unix ms their heartbeat expires | pruned on write |
//!
//! Every check-then-write (capacity, claiming, renewing, a fenced refresh) is one Lua script,
//! so it is atomic across replicas; times come from the Redis server's clock (`TIME`), so
//! replicas' clocks need not agree. Standalone Redis (or Sentinel-managed) is assumed: the
//! scripts touch keys of several worlds, which Redis Cluster would refuse.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Script};

use crowdwire_realtime::lease::{Lease, LeaseError, Leases, Renewal};
use crowdwire_realtime::presence::{Presence, PresenceEntry, PresenceError};
use crowdwire_world::engine::Restored;

/// Presence and leases on one Redis server.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    up: Arc<AtomicBool>,
    lease_ttl: Duration,
    entry_ttl: Duration,
    scripts: Arc<Scripts>,
}

struct Scripts {
    reserve: Script,
    write: Script,
    leave: Script,
    fresh: Script,
    count: Script,
    claim: Script,
    renew: Script,
    release: Script,
    alive: Script,
    replicas: Script,
}

/// The current time in Unix ms, from the server's clock.
const NOW: &str = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

fn script(body: &str) -> Script {
    Script::new(&format!("{NOW}\n{body}"))
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            // KEYS: users, online. ARGV: user, max (-1: none), hold ms.
            reserve: script(
                r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local max = tonumber(ARGV[2])
if max >= 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= max then
  return 0
end
redis.call('ZADD', KEYS[1], 'GT', now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('SET', KEYS[2], redis.call('ZCARD', KEYS[1]), 'PX', tonumber(ARGV[3]))
return 1
"#,
            ),
            // KEYS: owner, users, online, all, then one hash per user.
            // ARGV: fence (0: unchecked), ttl ms, world, fields per user, then per user: its
            // id and its field/value pairs.
            // Returns -1 when another holder's fence owns the world, else the fresh count.
            write: script(
                r#"
if ARGV[1] ~= '0' then
  local o = redis.call('GET', KEYS[1])
  if o and cjson.decode(o).fence ~= tonumber(ARGV[1]) then return -1 end
end
local ttl = tonumber(ARGV[2])
local exp = now + ttl
local n = tonumber(ARGV[4]) * 2
local i = 5
for k = 5, #KEYS do
  local user = ARGV[i]
  redis.call('HSET', KEYS[k], unpack(ARGV, i + 1, i + n))
  redis.call('PEXPIRE', KEYS[k], ttl)
  redis.call('ZADD', KEYS[2], exp, user)
  redis.call('ZADD', KEYS[4], exp, ARGV[3] .. ':' .. user)
  i = i + 1 + n
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('PEXPIRE', KEYS[2], ttl)
local c = redis.call('ZCARD', KEYS[2])
redis.call('SET', KEYS[3], c, 'PX', ttl)
return c
"#,
            ),
            // KEYS: users, online, all, hash. ARGV: user, world.
            leave: script(
                r#"
redis.call('DEL', KEYS[4])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[2] .. ':' .. ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local c = redis.call('ZCARD', KEYS[1])
if c == 0 then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], c, 'KEEPTTL') end
return c
"#,
            ),
            // KEYS: users. ARGV: world. The `player` field of every fresh member.
            fresh: script(
                r#"
local out = {}
for _, u in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  local p = redis.call('HGET', 'world:' .. ARGV[1] .. ':user:' .. u, 'player')
  if p then table.insert(out, p) end
end
return out
"#,
            ),
            // KEYS: a sorted set. ARGV: member ('' for the count of fresh members). Prunes.
            count: script(
                r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then
  if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 else return 0 end
end
return redis.call('ZCARD', KEYS[1])
"#,
            ),
            // KEYS: owner, fence counter. ARGV: replica, ttl ms. Returns the holder's JSON.
            // A new token is at least the current Unix ms, so tokens keep growing even after
            // Redis restarts without its data.
            claim: script(
                r#"
local o = redis.call('GET', KEYS[1])
if o then
  if cjson.decode(o).replica == ARGV[1] then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2])) end
  return o
end
local f = redis.call('INCR', KEYS[2])
if f < now then
  f = now
  redis.call('SET', KEYS[2], f)
end
local v = '{"replica":' .. cjson.encode(ARGV[1]) .. ',"fence":' .. string.format('%d', f) .. '}'
redis.call('SET', KEYS[1], v, 'PX', tonumber(ARGV[2]))
return v
"#,
            ),
            // KEYS: owner and fence counter of each world, in pairs. ARGV: replica, ttl ms,
            // then each world's fence. Per world: 0 held, -1 lost, or the new token of a
            // lapsed lease retaken.
            renew: script(
                r#"
local out = {}
for i = 1, #KEYS / 2 do
  local key, counter, fence = KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[2 + i])
  local o = redis.call('GET', key)
  if not o then
    local f = redis.call('INCR', counter)
    if f < now then
      f = now
      redis.call('SET', counter, f)
    end
    local v = '{"replica":' .. cjson.encode(ARGV[1]) .. ',"fence":' .. string.format('%d', f) .. '}'
    redis.call('SET', key, v, 'PX', tonumber(ARGV[2]))
    out[i] = f
  else
    local l = cjson.decode(o)
    if l.replica == ARGV[1] and l.fence == fence then
      redis.call('PEXPIRE', key, tonumber(ARGV[2]))
      out[i] = 0
    else
      out[i] = -1
    end
  end
end
return out
"#,
            ),
            // KEYS: replicas. ARGV: replica, ttl ms.
            alive: script(
                r#"
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return 1
"#,
            ),
            // KEYS: replicas. The live ones.
            replicas: script("return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')"),
            // KEYS: owner. ARGV: replica, fence.
            release: script(
                r#"
local o = redis.call('GET', KEYS[1])
if o then
  local l = cjson.decode(o)
  if l.replica == ARGV[1] and l.fence == tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) return 1 end
end
return 0
"#,
            ),
        }
    }
}

fn users_key(world: i64) -> String {
    format!("world:{world}:users")
}

fn online_key(world: i64) -> String {
    format!("world:{world}:online_users")
}

fn user_key(world: i64, user: &str) -> String {
    format!("world:{world}:user:{user}")
}

fn owner_key(world: i64) -> String {
    format!("world:{world}:owner")
}

fn fence_key(world: i64) -> String {
    format!("world:{world}:fence")
}

const ALL_USERS: &str = "presence:users";
/// Live replicas, scored by the Unix ms their heartbeat expires.
const REPLICAS: &str = "crowdwire:replicas";

/// The hash fields of an entry, in order.
const FIELDS: usize = 8;

fn fields(entry: &PresenceEntry) -> [(&'static str, String); FIELDS] {
    let p = &entry.player;
    let (x, y) = p
        .position
        .map(|p| (p.x.to_string(), p.y.to_string()))
        .unwrap_or_default();
    [
        ("username", p.profile.username.clone()),
        ("avatar", p.profile.avatar.clone()),
        ("x", x),
        ("y", y),
        ("replica", entry.replica.clone()),
        ("conference", p.conference.clone().unwrap_or_default()),
        ("speaker", if p.speaker { "1" } else { "0" }.into()),
        ("player", serde_json::to_string(p).expect("plain data")),
    ]
}

#[derive(serde::Deserialize)]
struct Holder {
    replica: String,
    fence: u64,
}

impl RedisStore {
    /// Connects (failing if Redis cannot be reached within a few seconds). Leases live
    /// `lease_ttl`; presence entries `entry_ttl` unless refreshed.
    pub async fn connect(url: &str, lease_ttl: Duration, entry_ttl: Duration) -> Result<RedisStore, String> {
        let client = redis::Client::open(url).map_err(|e| format!("CROWDWIRE_REDIS_URL: {e}"))?;
        // Commands fail fast while Redis is away (the replica degrades, it does not hang),
        // and the connection is re-made in the background when it returns.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| format!("Redis at {url} did not answer within 10 s"))?
        .map_err(|e| format!("cannot reach Redis at {url}: {e}"))?;
        let store = RedisStore {
            conn,
            up: Arc::new(AtomicBool::new(true)),
            lease_ttl,
            entry_ttl,
            scripts: Arc::new(Scripts::new()),
        };
        let probe = store.clone();
        tokio::spawn(async move {
            // Notices an outage (and the recovery) even when nothing else talks to Redis.
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let mut c = probe.conn.clone();
                let r: RedisResult<String> = redis::cmd("PING").query_async(&mut c).await;
                probe.note(&r);
            }
        });
        Ok(store)
    }

    /// The connection (shared by the other Redis users of this replica).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Records whether Redis answered; logs the changes.
    fn note<T>(&self, r: &RedisResult<T>) {
        let ok = r.is_ok();
        if self.up.swap(ok, Ordering::Relaxed) != ok {
            if ok {
                tracing::info!("Redis reachable again");
            } else if let Err(e) = r {
                tracing::warn!(error = %e, "Redis unreachable: presence and leases degraded");
            }
        }
        metrics::gauge!("crowdwire_redis_up").set(if ok { 1.0 } else { 0.0 });
    }

    async fn run<T: redis::FromRedisValue>(&self, inv: redis::ScriptInvocation<'_>) -> RedisResult<T> {
        let mut c = self.conn.clone();
        let r = inv.invoke_async(&mut c).await;
        self.note(&r);
        r
    }

    async fn write(&self, world: i64, fence: u64, entries: &[(String, PresenceEntry)]) -> RedisResult<i64> {
        let mut inv = self.scripts.write.prepare_invoke();
        inv.key(owner_key(world))
            .key(users_key(world))
            .key(online_key(world))
            .key(ALL_USERS)
            .arg(fence)
            .arg(self.entry_ttl.as_millis() as u64)
            .arg(world)
            .arg(FIELDS);
        for (user, entry) in entries {
            inv.key(user_key(world, user)).arg(user);
            for (k, v) in fields(entry) {
                inv.arg(k).arg(v);
            }
        }
        self.run(inv).await
    }
}

fn presence_error(e: redis::RedisError) -> PresenceError {
    PresenceError(e.to_string())
}

fn lease_error(e: redis::RedisError) -> LeaseError {
    LeaseError(e.to_string())
}

#[async_trait]
impl Presence for RedisStore {
    async fn reserve(&self, world: i64, user: &str, max: Option<u32>) -> Result<bool, PresenceError> {
        let mut inv = self.scripts.reserve.prepare_invoke();
        inv.key(users_key(world))
            .key(online_key(world))
            .arg(user)
            .arg(max.map(i64::from).unwrap_or(-1))
            .arg(self.entry_ttl.as_millis() as u64);
        let r: i64 = self.run(inv).await.map_err(presence_error)?;
        Ok(r == 1)
    }

    async fn join(&self, world: i64, user: &str, entry: PresenceEntry) {
        if let Err(e) = self.write(world, 0, &[(user.to_owned(), entry)]).await {
            tracing::debug!(world, user, error = %e, "presence join not written");
        }
    }

    async fn leave(&self, world: i64, user: &str) {
        let mut inv = self.scripts.leave.prepare_invoke();
        inv.key(users_key(world))
            .key(online_key(world))
            .key(ALL_USERS)
            .key(user_key(world, user))
            .arg(user)
            .arg(world);
        if let Err(e) = self.run::<i64>(inv).await {
            tracing::debug!(world, user, error = %e, "presence leave not written (the entry expires)");
        }
    }

    async fn refresh(
        &self,
        world: i64,
        fence: u64,
        entries: &[(String, PresenceEntry)],
    ) -> Result<bool, PresenceError> {
        // Large worlds go in slices, so no single script holds Redis long.
        for chunk in entries.chunks(500).chain(entries.is_empty().then_some(&[][..])) {
            if self.write(world, fence, chunk).await.map_err(presence_error)? < 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn carried(&self, world: i64) -> Vec<Restored> {
        let mut inv = self.scripts.fresh.prepare_invoke();
        inv.key(users_key(world)).arg(world);
        match self.run::<Vec<String>>(inv).await {
            Ok(players) => players
                .iter()
                .filter_map(|p| match serde_json::from_str(p) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!(world, error = %e, "unreadable presence entry skipped");
                        None
                    }
                })
                .collect(),
            Err(e) => {
                tracing::warn!(world, error = %e, "cannot read the players to restore");
                Vec::new()
            }
        }
    }

    async fn online_count(&self, world: i64) -> u64 {
        let mut inv = self.scripts.count.prepare_invoke();
        inv.key(users_key(world)).arg("");
        self.run::<u64>(inv).await.unwrap_or(0)
    }

    async fn online_total(&self) -> u64 {
        let mut inv = self.scripts.count.prepare_invoke();
        inv.key(ALL_USERS).arg("");
        self.run::<u64>(inv).await.unwrap_or(0)
    }

    async fn is_online(&self, world: i64, user: &str) -> bool {
        let mut inv = self.scripts.count.prepare_invoke();
        inv.key(users_key(world)).arg(user);
        self.run::<u64>(inv).await.is_ok_and(|n| n == 1)
    }

    fn healthy(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

#[async_trait]
impl Leases for RedisStore {
    async fn claim(&self, world: i64, replica: &str) -> Result<Lease, LeaseError> {
        let mut inv = self.scripts.claim.prepare_invoke();
        inv.key(owner_key(world))
            .key(fence_key(world))
            .arg(replica)
            .arg(self.lease_ttl.as_millis() as u64);
        let v: String = self.run(inv).await.map_err(lease_error)?;
        let h: Holder = serde_json::from_str(&v).map_err(|e| LeaseError(format!("bad lease {v}: {e}")))?;
        Ok(Lease {
            replica: h.replica,
            fence: h.fence,
        })
    }

    async fn renew(&self, replica: &str, worlds: &[(i64, u64)]) -> Result<Vec<Renewal>, LeaseError> {
        let mut out = Vec::with_capacity(worlds.len());
        for chunk in worlds.chunks(500) {
            let mut inv = self.scripts.renew.prepare_invoke();
            inv.arg(replica).arg(self.lease_ttl.as_millis() as u64);
            for (world, fence) in chunk {
                inv.key(owner_key(*world)).key(fence_key(*world)).arg(*fence);
            }
            let r: Vec<i64> = self.run(inv).await.map_err(lease_error)?;
            out.extend(r.into_iter().map(|v| match v {
                0 => Renewal::Held,
                v if v > 0 => Renewal::Reclaimed(v as u64),
                _ => Renewal::Lost,
            }));
        }
        Ok(out)
    }

    async fn release(&self, world: i64, replica: &str, fence: u64) -> Result<(), LeaseError> {
        let mut inv = self.scripts.release.prepare_invoke();
        inv.key(owner_key(world)).arg(replica).arg(fence);
        self.run::<i64>(inv).await.map(|_| ()).map_err(lease_error)
    }

    async fn holder(&self, world: i64) -> Result<Option<Lease>, LeaseError> {
        let mut c = self.conn.clone();
        let r: RedisResult<Option<String>> = redis::cmd("GET").arg(owner_key(world)).query_async(&mut c).await;
        self.note(&r);
        let Some(v) = r.map_err(lease_error)? else {
            return Ok(None);
        };
        let h: Holder = serde_json::from_str(&v).map_err(|e| LeaseError(format!("bad lease {v}: {e}")))?;
        Ok(Some(Lease {
            replica: h.replica,
            fence: h.fence,
        }))
    }

    async fn replica_number(&self) -> Result<u32, LeaseError> {
        let mut c = self.conn.clone();
        let r: RedisResult<u64> = redis::cmd("INCR")
            .arg("crowdwire:replica_seq")
            .query_async(&mut c)
            .await;
        self.note(&r);
        // 24 bits: the rest of a 64-bit session id counts that replica's sessions.
        Ok((r.map_err(lease_error)? % (1 << 24)) as u32)
    }

    async fn heartbeat(&self, replica: &str) -> Result<(), LeaseError> {
        let mut inv = self.scripts.alive.prepare_invoke();
        inv.key(REPLICAS).arg(replica).arg(self.lease_ttl.as_millis() as u64);
        self.run::<i64>(inv).await.map(|_| ()).map_err(lease_error)
    }

    async fn live_replicas(&self) -> Result<Option<std::collections::HashSet<String>>, LeaseError> {
        let mut inv = self.scripts.replicas.prepare_invoke();
        inv.key(REPLICAS);
        let live: Vec<String> = self.run(inv).await.map_err(lease_error)?;
        Ok(Some(live.into_iter().collect()))
    }

    fn healthy(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
