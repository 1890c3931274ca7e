//! Scale-out over real processes: `crowdwire serve` replicas on PostgreSQL, their own Redis
//! server and the machine's RabbitMQ, all on loopback. Users on different replicas meet, a
//! world's owner is killed with SIGKILL and its clients resume on the others, and Redis and
//! RabbitMQ restarts are survived.
//!
//! Needs `CROWDWIRE_TEST_DATABASE_URL` (PostgreSQL), `redis-server` on the PATH, and RabbitMQ
//! at `CROWDWIRE_TEST_AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`) with
//! `rabbitmqctl` for the restart test. Without the database URL the tests say so and stop;
//! with it, a missing Redis or RabbitMQ fails them. The tests run one at a time.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::ws::Client;
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestServer};

/// One cluster test at a time: each runs several servers on two cores, and one restarts the
/// shared RabbitMQ.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SECRET: &str = "cluster-test-secret-0123456789abcdef0123456789";

fn amqp_url() -> String {
    std::env::var("CROWDWIRE_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Fails the test, with the process's log, if it has exited.
fn still_running(child: &mut Option<Child>, log: &std::path::Path, what: &str) {
    if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
        panic!(
            "{what} exited ({status}):\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

/// A Redis server of the test's own (so a restart touches nobody else).
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Redis {
        let mut r = Redis {
            port: common::free_port(),
            child: None,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the cluster tests");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it (its data is lost, as in a crash of a Redis without persistence).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn get(&self, key: &str) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--raw", "GET", key])
            .output()
            .expect("redis-cli");
        let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (!s.is_empty()).then_some(s)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `crowdwire serve` process.
struct Replica {
    id: String,
    server: TestServer,
    child: Option<Child>,
    log: PathBuf,
}

impl Replica {
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGKILL: no clean-up of any kind.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn health(&self) -> Value {
        self.server.get("/health", None).await.1
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Cluster {
    replicas: Vec<Replica>,
    nodes: Vec<MediaNodeProc>,
    redis: Redis,
    database_url: String,
    dir: PathBuf,
    /// Replicas forward media through standalone nodes (else they run none).
    media_nodes: bool,
    /// The replicas' other settings, as environment variables.
    env: Vec<(String, String)>,
}

/// A `crowdwire media` process.
struct MediaNodeProc {
    id: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Drop for MediaNodeProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    /// `n` replicas on a fresh PostgreSQL schema and a fresh Redis; `None` (after saying why)
    /// when no PostgreSQL is configured.
    async fn start(n: usize) -> Cluster {
        Self::start_with(n, false).await
    }

    async fn start_with(n: usize, media_nodes: bool) -> Cluster {
        Self::build(n, media_nodes, &[]).await
    }

    /// `n` replicas (without media) with these settings too, as environment variables.
    async fn start_with_env(n: usize, env: &[(&str, &str)]) -> Cluster {
        Self::build(n, false, env).await
    }

    async fn build(n: usize, media_nodes: bool, env: &[(&str, &str)]) -> Cluster {
        common::require_postgres();
        let (database_url, dir) = common::fresh_database(Backend::Postgres).await;
        let mut c = Cluster {
            replicas: Vec::new(),
            nodes: Vec::new(),
            redis: Redis::start(),
            database_url,
            dir,
            media_nodes,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        // The first one migrates the database; the others start together after it.
        c.add().await;
        for _ in 1..n {
            c.add().await;
        }
        c
    }

    async fn add(&mut self) {
        let i = self.replicas.len();
        let port = common::free_port();
        let id = format!("r{i}-{}", uuid::Uuid::new_v4().simple());
        let data = self.dir.join(format!("replica-{i}"));
        std::fs::create_dir_all(&data).unwrap();
        let log = self.dir.join(format!("replica-{i}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_crowdwire"))
            .arg("serve")
            .env("CROWDWIRE_BIND", format!("127.0.0.1:{port}"))
            // Several replicas on one machine: each its own free admin port.
            .env("CROWDWIRE_ADMIN_BIND", "127.0.0.1:0")
            .env("CROWDWIRE_DATA_DIR", &data)
            .env("CROWDWIRE_DATABASE_URL", &self.database_url)
            .env("CROWDWIRE_JWT_SECRET", SECRET)
            .env("CROWDWIRE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("CROWDWIRE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("CROWDWIRE_AUTH_RATE_PER_MINUTE", "100000")
            .env("CROWDWIRE_REDIS_URL", self.redis.url())
            .env("CROWDWIRE_AMQP_URL", amqp_url())
            .env("CROWDWIRE_REPLICA_ID", &id)
            .env("CROWDWIRE_MEDIA_MODE", if self.media_nodes { "nodes" } else { "off" })
            // Players whose connection dropped keep their place this long.
            .env("CROWDWIRE_RECONNECT_GRACE_SECONDS", "5")
            .env(
                "CROWDWIRE_LOG",
                "warn,crowdwire=info,crowdwire_realtime=info,crowdwire_cluster=info",
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting crowdwire");
        let mut config = crowdwire::config::Config::for_data_dir(&data);
        config.data_dir = data;
        let root = format!("http://127.0.0.1:{port}");
        let server = TestServer {
            running: None,
            api: format!("{root}/api/v1"),
            root,
            http: reqwest::Client::new(),
            config,
        };
        let mut replica = Replica {
            id,
            server,
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = replica
                .server
                .http
                .get(format!("{}/health", replica.server.api))
                .send()
                .await
                && r.status().is_success()
            {
                break;
            }
            still_running(&mut replica.child, &replica.log, &format!("replica {i}"));
            assert!(Instant::now() < deadline, "replica {i} did not become healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.replicas.push(replica);
    }

    /// Starts a media node and waits until it is registered for placement.
    async fn add_node(&mut self) {
        let i = self.nodes.len();
        let id = format!("m{i}-{}", uuid::Uuid::new_v4().simple());
        let log = self.dir.join(format!("media-{i}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_crowdwire"))
            .arg("media")
            .env("CROWDWIRE_AMQP_URL", amqp_url())
            .env("CROWDWIRE_REDIS_URL", self.redis.url())
            .env("CROWDWIRE_NODE_ID", &id)
            .env("CROWDWIRE_MEDIA_BIND", "127.0.0.1:0")
            .env("CROWDWIRE_MEDIA_WORKERS", "1")
            .env("CROWDWIRE_HEALTH_BIND", "127.0.0.1:0")
            .env("CROWDWIRE_LOG", "info")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting crowdwire media");
        let mut node = MediaNodeProc {
            id,
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("redis-cli")
                .args([
                    "-p",
                    &self.redis.port.to_string(),
                    "--raw",
                    "ZSCORE",
                    "media:nodes",
                    &node.id,
                ])
                .output()
                .expect("redis-cli");
            if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                break;
            }
            still_running(&mut node.child, &node.log, &format!("media node {i}"));
            assert!(Instant::now() < deadline, "media node {i} did not register");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.nodes.push(node);
    }

    fn api(&self, i: usize) -> &TestServer {
        &self.replicas[i].server
    }

    /// Which replica (index) holds `world`'s lease.
    fn owner(&self, world: i64) -> Option<usize> {
        let v: Value = serde_json::from_str(&self.redis.get(&format!("world:{world}:owner"))?).ok()?;
        self.replicas.iter().position(|r| v["replica"] == r.id.as_str())
    }

    fn logs(&self) -> String {
        let replicas = self.replicas.iter().map(|r| (&r.id, &r.log));
        let nodes = self.nodes.iter().map(|n| (&n.id, &n.log));
        replicas
            .chain(nodes)
            .map(|(id, log)| format!("---- {id} ----\n{}", std::fs::read_to_string(log).unwrap_or_default()))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        self.replicas.clear();
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Joins `world` through REST on replica `via`, then opens the socket on replica `on`.
async fn enter(c: &Cluster, via: usize, on: usize, world: i64, token: &str) -> Client {
    let r = c
        .api(via)
        .post(&format!("/worlds/{world}/users"), Some(token), json!({}))
        .await;
    assert!(r.0.is_success(), "REST join: {}", r.1);
    connect(c, on, world, token).await
}

/// Opens a socket on replica `on`, retrying while it is refused for now (1013: a world
/// being taken over, a broker reconnecting), and waits for the snapshot.
async fn connect(c: &Cluster, on: usize, world: i64, token: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut cl = Client::connect_to(&c.api(on).api, world, token).await;
        let deadline_one = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline_one {
            match cl.next(200).await {
                Some(v) if v["topic"] == "PLAYERS_SNAPSHOT" => return cl,
                Some(_) => {}
                None if cl.closed.is_some() => break,
                None => {}
            }
        }
        assert!(
            Instant::now() < deadline,
            "no PLAYERS_SNAPSHOT from replica {on}; closed with {:?}, got {:?}",
            cl.closed,
            cl.seen
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The user ids in the last `WIRE_PLAYER` with `merge: false` (the full list of co-members).
fn co_members(seen: &[Value]) -> Option<Vec<String>> {
    let w = seen
        .iter()
        .rev()
        .find(|v| v["topic"] == "WIRE_PLAYER" && v["merge"] == false)?;
    let mut ids: Vec<String> = w["ids"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    ids.sort();
    Some(ids)
}

/// Ada on replica 0 (where the world then runs) and Bo on replica 1, standing together.
struct Pair {
    w: i64,
    ta: String,
    tb: String,
    a: Client,
    b: Client,
    /// Their proximity group's JSON value.
    room: Value,
}

async fn pair(c: &Cluster, world: &str) -> Pair {
    let (_, ta) = c.api(0).user("Ada").await;
    let (_, tb) = c.api(0).user("Bo").await;
    let w = c.api(0).world(&ta, world, true, true).await;
    let mut a = enter(c, 0, 0, w, &ta).await;
    let mut b = enter(c, 0, 1, w, &tb).await;
    a.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    b.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 140, "y": 100}}))
        .await;
    let room = b.expect("GROUPS_SNAPSHOT").await["groups"][0].clone();
    Pair { w, ta, tb, a, b, room }
}

async fn join_events(s: &TestServer, world: i64, token: &str) -> Vec<(Value, String)> {
    let (_, ev) = s
        .get(
            &format!("/worlds/{world}/events?order_desc=false&limit=100"),
            Some(token),
        )
        .await;
    ev.as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["user_id"].clone(), e["event_type"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn users_on_different_replicas_meet_move_chat_group_and_are_moderated() {
    let _serial = SERIAL.lock().await;
    let c = Cluster::start(3).await;
    let (_, ta) = c.api(0).user("Ada").await;
    let (bid, tb) = c.api(0).user("Bo").await;
    let (cid, tc) = c.api(0).user("Cy").await;
    let w = c.api(0).world(&ta, "Spread", true, true).await;
    // Ada on replica 1 (the first socket: its world starts there), Bo on 2, Cy on 0.
    let mut a = enter(&c, 0, 1, w, &ta).await;
    assert_eq!(c.owner(w), Some(1), "the world runs where its first socket arrived");
    let mut b = enter(&c, 0, 2, w, &tb).await;
    let mut cy = enter(&c, 2, 0, w, &tc).await;
    a.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    b.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 400, "y": 100}}))
        .await;
    cy.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 1500, "y": 1200}}))
        .await;
    // Bo's and Cy's arrivals come through different replicas: in either order.
    let mut arrived = vec![
        a.expect("JOIN_PLAYER").await["user"]["user_id"].clone(),
        a.expect("JOIN_PLAYER").await["user"]["user_id"].clone(),
    ];
    arrived.sort_by_key(|v| v.to_string());
    let mut want = vec![json!(bid.to_string()), json!(cid.to_string())];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(arrived, want);
    // Bo walks to Ada: she sees him move, and they are grouped.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 130, "y": 100}, "velocity": {"x": -200, "y": 0}}))
        .await;
    // The group changes at once; the movement goes out at the end of the world's turn.
    let g = b.expect("GROUPS_SNAPSHOT").await;
    assert_eq!(g["groups"].as_array().map(Vec::len), Some(1), "{g}");
    assert_eq!(a.expect("GROUPS_SNAPSHOT").await["groups"], g["groups"]);
    let m = a.expect("PLAYER_MOVEMENT").await;
    assert_eq!(
        (m["user_id"].clone(), m["position"]["x"].clone()),
        (json!(bid.to_string()), json!(130.0))
    );
    // Chat: everyone reaches all three replicas' sockets; nearby only the group.
    cy.send(json!({"topic": "SEND_MESSAGE", "text": "hello from replica 0", "to": "ALL"}))
        .await;
    for cl in [&mut a, &mut b, &mut cy] {
        assert_eq!(cl.expect("SEND_MESSAGE").await["text"], "hello from replica 0");
    }
    b.send(json!({"topic": "SEND_MESSAGE", "text": "psst", "to": "NEARBY"}))
        .await;
    assert_eq!(a.expect("SEND_MESSAGE").await["text"], "psst");
    cy.expect_no("SEND_MESSAGE", 500).await;
    // Presence is shared: any replica counts the world's users.
    for i in 0..3 {
        let (_, info) = c.api(i).get(&format!("/worlds/{w}"), Some(&ta)).await;
        assert_eq!(info["online_users"], 3, "replica {i}: {info}");
    }
    // A ban through replica 0's REST API reaches Bo's socket on replica 2 via the owner.
    let r = c
        .api(0)
        .put(&format!("/worlds/{w}/users/{bid}"), Some(&ta), json!({"status": 1}))
        .await;
    assert!(r.0.is_success(), "{}", r.1);
    assert!(
        b.expect("KICKED").await["d"]["reason"]
            .as_str()
            .unwrap()
            .contains("banned")
    );
    assert_ne!(b.closed_with().await, 1000);
    assert_eq!(a.expect("LEAVE_PLAYER").await["user_id"], bid.to_string());
    // Capacity holds across replicas: at 2 online with a cap of 2, a newcomer anywhere is refused.
    let r = c
        .api(0)
        .put(&format!("/worlds/{w}"), Some(&ta), json!({"max_users": 2}))
        .await;
    assert!(r.0.is_success(), "{}", r.1);
    let (_, td) = c.api(0).user("Di").await;
    c.api(0).post(&format!("/worlds/{w}/users"), Some(&td), json!({})).await;
    let mut d = Client::connect_to(&c.api(2).api, w, &td).await;
    assert_eq!(d.closed_with().await, 1008);
    let health = c.replicas[1].health().await;
    assert_eq!(health["cluster"]["worlds_owned"], 1, "{health}");
    assert_eq!(c.replicas[0].health().await["cluster"]["remote_sessions"], 1);
}

/// Ada, Bo and Cy with sockets on replicas 0, 1 and 2 (the world, `name`, runs on 0), spawned
/// at these positions, Ada and Bo together. Returns after one presence refresh has recorded
/// where they stand, with what Bo and Cy were sent so far read.
struct Trio {
    w: i64,
    ta: String,
    bid: i64,
    a: Client,
    b: Client,
    cy: Client,
    /// Ada and Bo's `GROUPS_SNAPSHOT` groups.
    group: Value,
}

async fn trio(c: &Cluster, name: &str, at: [(i64, i64); 3]) -> Trio {
    let (_, ta) = c.api(1).user("Ada").await;
    let (bid, tb) = c.api(1).user("Bo").await;
    let (_, tc) = c.api(1).user("Cy").await;
    let w = c.api(1).world(&ta, name, true, true).await;
    let mut a = enter(c, 1, 0, w, &ta).await;
    let mut b = enter(c, 1, 1, w, &tb).await;
    let mut cy = enter(c, 1, 2, w, &tc).await;
    assert_eq!(c.owner(w), Some(0));
    for (cl, (x, y)) in [(&mut a, at[0]), (&mut b, at[1]), (&mut cy, at[2])] {
        cl.send(json!({"topic": "JOIN_PLAYER", "position": {"x": x, "y": y}}))
            .await;
    }
    let group = b.expect("GROUPS_SNAPSHOT").await["groups"].clone();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    while b.next(300).await.is_some() {}
    while cy.next(300).await.is_some() {}
    Trio {
        w,
        ta,
        bid,
        a,
        b,
        cy,
        group,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn killing_a_worlds_owner_moves_the_world_and_keeps_the_survivors_sockets_open() {
    let _serial = SERIAL.lock().await;
    let mut c = Cluster::start(3).await;
    let Trio {
        w,
        ta,
        bid,
        a: _ada_on_replica_0,
        mut b,
        mut cy,
        group,
    } = trio(&c, "Failover", [(100, 100), (140, 100), (1500, 1200)]).await;
    // What the survivors were sent before the kill is left behind.
    let (b_before, cy_before) = (b.seen.len(), cy.seen.len());

    let killed = Instant::now();
    c.replicas[0].kill();
    // Bo says something while nobody runs the world: it is kept, and taken by the next owner.
    b.send(json!({"topic": "SEND_MESSAGE", "text": "in the gap", "to": "ALL"}))
        .await;
    // Only Ada's socket (on the dead replica) drops: she comes back through a surviving
    // replica, as a browser behind a load balancer would.
    let mut a = connect(&c, 1, w, &ta).await;
    let resumed = killed.elapsed();
    let new_owner = c.owner(w).expect("someone runs the world");
    assert_ne!(new_owner, 0);
    // Bo's and Cy's sockets (proxied to the dead owner) stay open: their replicas re-attach
    // them to the new owner, which resumes them and sends a fresh snapshot.
    b.expect_within("PLAYERS_SNAPSHOT", 10_000).await;
    cy.expect_within("PLAYERS_SNAPSHOT", 10_000).await;
    let reattached = killed.elapsed();
    // Same groups: Ada and Bo together again, Cy alone.
    a.expect("GROUPS_SNAPSHOT").await;
    assert_eq!(co_members(&a.seen), Some(vec![bid.to_string()]));
    let ga = a.seen.iter().rev().find(|v| v["topic"] == "GROUPS_SNAPSHOT").unwrap()["groups"].clone();
    assert_eq!(ga.as_array().map(Vec::len), group.as_array().map(Vec::len));
    // The snapshot has everyone where they stood.
    let snap = a.seen.iter().find(|v| v["topic"] == "PLAYERS_SNAPSHOT").unwrap();
    assert_eq!(snap["snapshot"][bid.to_string()], json!({"x": 140.0, "y": 100.0}));
    eprintln!(
        "failover: Ada back {} ms, survivors re-attached {} ms after SIGKILL",
        resumed.as_millis(),
        reattached.as_millis()
    );
    // The world works on: chat reaches everyone, and a survivor's movement reaches others.
    b.send(json!({"topic": "SEND_MESSAGE", "text": "still here", "to": "ALL"}))
        .await;
    for cl in [&mut a, &mut b, &mut cy] {
        let deadline = Instant::now() + Duration::from_secs(5);
        while cl.expect("SEND_MESSAGE").await["text"] != "still here" {
            assert!(Instant::now() < deadline, "\"still here\" not heard");
        }
    }
    // What Bo said in the gap was not lost, nor doubled, for those who were there to hear it.
    for (cl, who) in [(&b, "Bo"), (&cy, "Cy")] {
        let heard = cl
            .seen_with("SEND_MESSAGE")
            .iter()
            .filter(|m| m["text"] == "in the gap")
            .count();
        assert_eq!(heard, 1, "{who} heard the message sent in the gap {heard} times");
    }
    b.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 130, "y": 100}, "velocity": {"x": -200, "y": 0}}))
        .await;
    let m = a.expect_within("PLAYER_MOVEMENT", 5_000).await;
    assert_eq!(m["user_id"], bid.to_string());
    // The survivors were never closed, and saw nobody leave or join again.
    for (cl, before, who) in [(&b, b_before, "Bo"), (&cy, cy_before, "Cy")] {
        assert!(cl.closed.is_none(), "{who}'s socket was closed: {:?}", cl.closed);
        let after = &cl.seen[before..];
        for topic in ["LEAVE_PLAYER", "JOIN_PLAYER"] {
            assert!(
                !after.iter().any(|v| v["topic"] == topic),
                "{who} saw {topic} after the kill: {after:?}"
            );
        }
    }
    // No event lost or doubled: one JOIN_PLAYER each, and no LEAVE_PLAYER for anyone.
    let events = join_events(c.api(new_owner), w, &ta).await;
    let joins = events.iter().filter(|(_, k)| k == "JOIN_PLAYER").count();
    let leaves = events.iter().filter(|(_, k)| k == "LEAVE_PLAYER").count();
    assert_eq!((joins, leaves), (3, 0), "{events:?}");
    assert_eq!(
        c.api(new_owner).get(&format!("/worlds/{w}"), Some(&ta)).await.1["online_users"],
        3
    );
}

/// Sends `signal` (`STOP`, `CONT`) to replica `i`'s process.
fn signal(c: &Cluster, i: usize, signal: &str) {
    let pid = c.replicas[i].child.as_ref().expect("replica running").id();
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{signal} {pid}");
}

/// Reads `cl` for `ms` and asserts that no chat message with this text came.
async fn never_hears(cl: &mut Client, text: &str, ms: u64) {
    let deadline = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < deadline {
        cl.next(100).await;
    }
    let heard: Vec<_> = cl
        .seen_with("SEND_MESSAGE")
        .into_iter()
        .filter(|m| m["text"] == text)
        .collect();
    assert!(heard.is_empty(), "{text:?} was heard: {heard:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn a_deposed_owner_stops_reaching_clients_at_once_and_no_split_world_is_seen() {
    let _serial = SERIAL.lock().await;
    let c = Cluster::start(3).await;
    let Trio {
        w,
        ta,
        mut a,
        mut b,
        mut cy,
        ..
    } = trio(&c, "Paused", [(100, 100), (140, 100), (600, 100)]).await;
    let (b_before, cy_before) = (b.seen.len(), cy.seen.len());

    // The owner pauses (a long GC, a frozen VM) past its lease: another replica takes the
    // world over, and the survivors' sockets are re-attached to it.
    signal(&c, 0, "STOP");
    let deadline = Instant::now() + Duration::from_secs(15);
    let new_owner = loop {
        // A socket arriving (here Bo's re-attachment) places the world again.
        if let Some(o) = c.owner(w).filter(|&o| o != 0) {
            break o;
        }
        assert!(Instant::now() < deadline, "nobody took the world over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    b.expect_within("PLAYERS_SNAPSHOT", 10_000).await;
    cy.expect_within("PLAYERS_SNAPSHOT", 10_000).await;
    // Ada, still on the paused replica, says something that replica will read when it wakes.
    a.send(json!({"topic": "SEND_MESSAGE", "text": "from the past", "to": "ALL"}))
        .await;
    signal(&c, 0, "CONT");
    // The deposed owner finds its lease gone and sends its own clients away; whatever it did
    // meanwhile is fenced off at the replicas holding the other sockets.
    assert_eq!(a.closed_with().await, 1012, "Ada is sent to the world's new owner");
    b.send(json!({"topic": "SEND_MESSAGE", "text": "one world", "to": "ALL"}))
        .await;
    assert_eq!(cy.expect("SEND_MESSAGE").await["text"], "one world");
    never_hears(&mut b, "from the past", 2000).await;
    never_hears(&mut cy, "from the past", 500).await;
    // Ada comes back into the one world, still run by the new owner.
    let mut a = connect(&c, 1, w, &ta).await;
    assert_eq!(c.owner(w), Some(new_owner));
    // What was said while she was away is hers when she is back.
    assert_eq!(a.expect("SEND_MESSAGE").await["text"], "one world");
    cy.send(json!({"topic": "SEND_MESSAGE", "text": "welcome back", "to": "ALL"}))
        .await;
    for cl in [&mut a, &mut b] {
        assert_eq!(cl.expect("SEND_MESSAGE").await["text"], "welcome back");
    }
    for (cl, before, who) in [(&b, b_before, "Bo"), (&cy, cy_before, "Cy")] {
        assert!(cl.closed.is_none(), "{who}'s socket was closed: {:?}", cl.closed);
        let after = &cl.seen[before..];
        assert!(
            !after
                .iter()
                .any(|v| v["topic"] == "LEAVE_PLAYER" || v["topic"] == "JOIN_PLAYER"),
            "{who} saw a leave or join: {after:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn a_rolling_restart_disconnects_nobody_on_the_other_replicas() {
    let _serial = SERIAL.lock().await;
    let mut c = Cluster::start(3).await;
    let names = ["Ada", "Bo", "Cy"];
    let mut tokens = Vec::new();
    for n in names {
        tokens.push(c.api(1).user(n).await.1);
    }
    let w = c.api(1).world(&tokens[0], "Rolling restart", true, true).await;
    // Everyone's socket on a replica of their own; the world runs on replica 0.
    let mut clients = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let mut cl = enter(&c, 1, i, w, t).await;
        cl.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100 + 40 * i, "y": 100}}))
            .await;
        clients.push((cl, i));
    }
    assert_eq!(c.owner(w), Some(0));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for (cl, _) in &mut clients {
        while cl.next(300).await.is_some() {}
    }
    // Each original replica in turn is stopped (SIGTERM) and replaced by a new one.
    for step in 0..3 {
        let owner = c.owner(w);
        signal(&c, step, "TERM");
        let mut child = c.replicas[step].child.take().expect("replica running");
        let _ = child.wait();
        c.add().await;
        let fresh = c.replicas.len() - 1;
        for (k, (cl, on)) in clients.iter_mut().enumerate() {
            if *on == step {
                assert_eq!(cl.closed_with().await, 1012, "{} is sent elsewhere", names[k]);
                *cl = connect(&c, fresh, w, &tokens[k]).await;
                *on = fresh;
            } else {
                assert!(cl.closed.is_none(), "step {step}: {}'s socket was closed", names[k]);
                if owner == Some(step) {
                    // Re-attached to the world's next owner.
                    cl.expect_within("PLAYERS_SNAPSHOT", 10_000).await;
                }
            }
        }
        // Every chat message reaches everyone.
        for k in 0..clients.len() {
            let text = format!("step {step} from {}", names[k]);
            clients[k]
                .0
                .send(json!({"topic": "SEND_MESSAGE", "text": text, "to": "ALL"}))
                .await;
            for (cl, _) in &mut clients {
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    let m = cl.expect_within("SEND_MESSAGE", 5_000).await;
                    if m["text"] == text.as_str() {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{text:?} not heard");
                }
            }
        }
    }
    // Nobody left, nobody joined twice.
    let events = join_events(c.api(3), w, &tokens[0]).await;
    let joins = events.iter().filter(|(_, k)| k == "JOIN_PLAYER").count();
    let leaves = events.iter().filter(|(_, k)| k == "LEAVE_PLAYER").count();
    assert_eq!((joins, leaves), (3, 0), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn a_redis_crash_and_a_rabbitmq_restart_are_survived() {
    let _serial = SERIAL.lock().await;
    let mut c = Cluster::start(2).await;
    let Pair {
        w,
        ta,
        tb,
        mut a,
        mut b,
        ..
    } = pair(&c, "Weather").await;

    // Redis dies with its data. The owner keeps serving its world (local and remote
    // sockets alike), and says it is degraded.
    c.redis.kill();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let h = c.replicas[0].health().await;
    assert_eq!(
        (h["status"].as_str(), h["cluster"]["presence_ok"].as_bool()),
        (Some("degraded"), Some(false)),
        "{h}"
    );
    b.send(json!({"topic": "SEND_MESSAGE", "text": "redis is down", "to": "ALL"}))
        .await;
    assert_eq!(a.expect("SEND_MESSAGE").await["text"], "redis is down");
    assert_eq!(b.expect("SEND_MESSAGE").await["text"], "redis is down");
    // Redis comes back empty: the owner retakes its lease and rewrites presence.
    c.redis.spawn();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, info) = c.api(1).get(&format!("/worlds/{w}"), Some(&ta)).await;
        if info["online_users"] == 2 && c.owner(w) == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "presence not rebuilt after the Redis restart: {} online, owner {:?}",
            info["online_users"],
            c.owner(w)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(c.replicas[0].health().await["status"], "ok");
    a.send(json!({"topic": "SEND_MESSAGE", "text": "redis is back", "to": "ALL"}))
        .await;
    assert_eq!(b.expect("SEND_MESSAGE").await["text"], "redis is back");
    assert!(b.closed.is_none(), "Bo's session went on through the Redis outage");

    // RabbitMQ restarts. Ada (on the owner) goes on; Bo's proxied socket is told to
    // reconnect, is refused for now while the broker is away, and gets back in after.
    let ctl = |what: &str| {
        let ok = Command::new("rabbitmqctl").arg(what).stdout(Stdio::null()).status();
        assert!(ok.is_ok_and(|s| s.success()), "rabbitmqctl {what} failed");
    };
    ctl("stop_app");
    assert_eq!(b.closed_with().await, 1012);
    a.send(json!({"topic": "PING", "position": {"x": 100, "y": 100}})).await;
    assert_eq!(a.expect("PONG").await, "PONG");
    let h = c.replicas[1].health().await;
    assert_eq!(h["cluster"]["bus_ok"], false, "{h}");
    ctl("start_app");
    let mut b = connect(&c, 1, w, &tb).await;
    b.expect("GROUPS_SNAPSHOT").await;
    assert_eq!(co_members(&b.seen).map(|m| m.len()), Some(1));
    a.send(json!({"topic": "SEND_MESSAGE", "text": "broker is back", "to": "ALL"}))
        .await;
    assert_eq!(b.expect("SEND_MESSAGE").await["text"], "broker is back");
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.replicas[1].health().await["cluster"]["bus_ok"] != true {
        assert!(Instant::now() < deadline, "replica 1 did not report the broker back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The UDP port of the first ICE candidate of a `you-joined-as-speaker`'s send transport.
fn candidate_port(joined: &Value) -> u64 {
    joined["d"]["sendTransportOptions"]["iceCandidates"][0]["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("no candidate in {joined}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn media_rooms_live_on_one_node_and_move_when_it_dies() {
    let _serial = SERIAL.lock().await;
    let mut c = Cluster::start_with(2, true).await;
    c.add_node().await;
    c.add_node().await;
    let Pair {
        w, mut a, mut b, room, ..
    } = pair(&c, "Voices").await;
    let room = room.as_str().unwrap().to_owned();
    // Both are told to join the room's media on the same node, through their replicas.
    let ja = a.expect_within("you-joined-as-speaker", 10_000).await;
    let jb = b.expect_within("you-joined-as-speaker", 10_000).await;
    assert_eq!(
        (ja["d"]["roomId"].as_str(), jb["d"]["roomId"].as_str()),
        (Some(&*room), Some(&*room))
    );
    assert!(
        ja.get("uid").is_none(),
        "the node's routing field is not the client's business: {ja}"
    );
    let port = candidate_port(&ja);
    assert_eq!(candidate_port(&jb), port, "one room, one node");
    let node = c
        .redis
        .get(&format!("world:{w}:room:{room}"))
        .expect("the room is placed");
    let dead = c
        .nodes
        .iter()
        .position(|n| n.id == node)
        .expect("placed on one of our nodes");
    // Signalling reaches the node and its answer comes back.
    b.send(json!({"topic": "@connect-transport", "d": {"roomId": room, "direction": "send", "dtlsParameters": {"role": "client", "fingerprints": []}}}))
        .await;
    b.expect_within("@connect-transport-send-done", 10_000).await;

    // The node dies: its room moves to the other node, and both clients are told to join it there.
    let killed = Instant::now();
    if let Some(mut child) = c.nodes[dead].child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let ja = a.expect_within("you-joined-as-speaker", 15_000).await;
    let jb = b.expect_within("you-joined-as-speaker", 15_000).await;
    eprintln!(
        "media node failover: rooms re-joined {} ms after SIGKILL",
        killed.elapsed().as_millis()
    );
    assert_eq!(ja["d"]["roomId"].as_str(), Some(&*room));
    assert_ne!(candidate_port(&ja), port);
    assert_eq!(candidate_port(&jb), candidate_port(&ja));
    let moved = c.redis.get(&format!("world:{w}:room:{room}")).expect("placed again");
    assert_eq!(moved, c.nodes[1 - dead].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn a_call_between_survivors_goes_on_through_an_owner_change_with_media_on_a_node() {
    let _serial = SERIAL.lock().await;
    let mut c = Cluster::start_with(3, true).await;
    c.add_node().await;
    c.add_node().await;
    let (_, th) = c.api(1).user("Host").await;
    let (_, tb) = c.api(1).user("Bo").await;
    let (_, tc) = c.api(1).user("Cy").await;
    let w = c.api(1).world(&th, "Call", true, true).await;
    // The world runs on replica 0, where only its host stands, far away; Bo and Cy talk
    // through replicas 1 and 2.
    let mut h = enter(&c, 1, 0, w, &th).await;
    h.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 1500, "y": 1200}}))
        .await;
    let mut b = enter(&c, 1, 1, w, &tb).await;
    let mut cy = enter(&c, 1, 2, w, &tc).await;
    assert_eq!(c.owner(w), Some(0));
    b.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    cy.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 140, "y": 100}}))
        .await;
    let room = cy.expect("GROUPS_SNAPSHOT").await["groups"][0]
        .as_str()
        .expect("a group")
        .to_owned();
    let jb = b.expect_within("you-joined-as-speaker", 10_000).await;
    let jc = cy.expect_within("you-joined-as-speaker", 10_000).await;
    assert_eq!(
        (jb["d"]["roomId"].as_str(), jc["d"]["roomId"].as_str()),
        (Some(&*room), Some(&*room))
    );
    let node = c.redis.get(&format!("world:{w}:room:{room}")).expect("placed");
    // Let one presence refresh record where everyone stands.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    while b.next(300).await.is_some() {}
    while cy.next(300).await.is_some() {}
    let (b_before, cy_before) = (b.seen.len(), cy.seen.len());

    let killed = Instant::now();
    c.replicas[0].kill();
    b.expect_within("PLAYERS_SNAPSHOT", 10_000).await;
    cy.expect_within("PLAYERS_SNAPSHOT", 10_000).await;
    eprintln!(
        "owner killed: survivors re-attached {} ms after SIGKILL",
        killed.elapsed().as_millis()
    );
    // The group is the same room, still on the same node; neither client is told to join it
    // again or to close it: its transports, and the call, go on.
    for (cl, before, who) in [(&mut b, b_before, "Bo"), (&mut cy, cy_before, "Cy")] {
        let groups = cl.expect("GROUPS_SNAPSHOT").await;
        assert_eq!(groups["groups"], json!([room]), "{who}");
        cl.expect_no("you-joined-as-speaker", 1500).await;
        let after = &cl.seen[before..];
        for topic in [
            "you-joined-as-speaker",
            "you-joined-as-peer",
            "CLOSE_ROOM",
            "LEAVE_PLAYER",
        ] {
            assert!(
                !after.iter().any(|v| v["topic"] == topic),
                "{who} got {topic}: {after:?}"
            );
        }
        assert!(cl.closed.is_none(), "{who}'s socket was closed");
    }
    assert_eq!(c.redis.get(&format!("world:{w}:room:{room}")), Some(node.clone()));
    // The new owner watches the node of the room although it did not place it (and has sent it
    // nothing yet): when that node dies, the room moves to the other one and both are joined to
    // it there.
    let dead = c.nodes.iter().position(|n| n.id == node).expect("one of ours");
    if let Some(mut child) = c.nodes[dead].child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut joined = Vec::new();
    for cl in [&mut b, &mut cy] {
        let j = cl.expect_within("you-joined-as-speaker", 15_000).await;
        assert_eq!(j["d"]["roomId"].as_str(), Some(&*room));
        joined.push(j);
    }
    assert_eq!(
        c.redis.get(&format!("world:{w}:room:{room}")).as_deref(),
        Some(&*c.nodes[1 - dead].id)
    );
    // Signalling reaches the room's node through the new owner, and the answer comes back.
    let transport = joined[0]["d"]["sendTransportOptions"]["id"].clone();
    b.send(json!({"topic": "@connect-transport", "d": {"roomId": room, "transportId": transport, "direction": "send", "dtlsParameters": {"role": "client", "fingerprints": [{"algorithm": "sha-256", "value": "00"}]}}}))
        .await;
    let done = b.expect_within("@connect-transport-send-done", 10_000).await;
    assert!(done["d"].get("error").is_none(), "{done}");
    // A group formed later gets an id no earlier owner used.
    cy.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 440, "y": 100}, "velocity": {"x": 0, "y": 0}}))
        .await;
    cy.expect_within("CLOSE_ROOM", 5_000).await;
    b.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 400, "y": 100}, "velocity": {"x": 0, "y": 0}}))
        .await;
    let fresh = b.expect_within("you-joined-as-speaker", 10_000).await["d"]["roomId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        fresh.parse::<u64>().unwrap() > room.parse::<u64>().unwrap(),
        "{fresh} after {room}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn a_dead_replicas_users_leave_the_world_after_the_grace_unless_they_come_back() {
    let _serial = SERIAL.lock().await;
    let mut c = Cluster::start(3).await;
    let (_, ta) = c.api(0).user("Ada").await;
    let (bid, tb) = c.api(0).user("Bo").await;
    let (_, tc) = c.api(0).user("Cy").await;
    let w = c.api(0).world(&ta, "Quiet exit", true, true).await;
    let mut a = enter(&c, 0, 0, w, &ta).await;
    let mut b = enter(&c, 0, 1, w, &tb).await;
    let mut cy = enter(&c, 0, 1, w, &tc).await;
    for (cl, x) in [(&mut a, 100), (&mut b, 140), (&mut cy, 600)] {
        cl.send(json!({"topic": "JOIN_PLAYER", "position": {"x": x, "y": 100}}))
            .await;
    }
    b.expect("GROUPS_SNAPSHOT").await;
    // Replica 1 (holding Bo's and Cy's sockets, not the world) dies. Cy comes back through
    // replica 2 and is resumed; Bo closed his laptop at the same moment and never returns.
    c.replicas[1].kill();
    let _cy = connect(&c, 2, w, &tc).await;
    let left = a.expect_within("LEAVE_PLAYER", 20_000).await;
    assert_eq!(
        left["user_id"],
        bid.to_string(),
        "Bo leaves once his place's grace is over"
    );
    a.expect_no("LEAVE_PLAYER", 1500).await;
    let (_, info) = c.api(0).get(&format!("/worlds/{w}"), Some(&ta)).await;
    assert_eq!(info["online_users"], 2);
    let events = join_events(c.api(0), w, &ta).await;
    let leaves: Vec<_> = events.iter().filter(|(_, k)| k == "LEAVE_PLAYER").collect();
    assert_eq!(leaves.len(), 1, "{events:?}");
    assert_eq!(leaves[0].0, bid, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn a_replica_stopped_for_a_deploy_hands_its_worlds_over_at_once_and_sockets_elsewhere_stay_open() {
    let _serial = SERIAL.lock().await;
    let c = Cluster::start(2).await;
    let Pair {
        w,
        ta,
        tb: _,
        mut a,
        mut b,
        room,
    } = pair(&c, "Rolling").await;
    // What Bo was sent so far is read first.
    while b.next(300).await.is_some() {}
    let b_before = b.seen.len();
    // SIGTERM to the owner (replica 0), as an orchestrator does before replacing it.
    let pid = c.replicas[0].child.as_ref().unwrap().id();
    let stopped = Instant::now();
    let ok = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(ok.success());
    assert_eq!(a.closed_with().await, 1012, "Ada is sent to another replica");
    // The lease was given up: the world moves at once (no wait for the lease to lapse) to
    // replica 1, whose hub re-attaches Bo's socket there; Ada reconnects, and both are back
    // in their group. Bo's socket stays open and he sees nobody leave.
    let mut a = connect(&c, 1, w, &ta).await;
    let ga = a.expect("GROUPS_SNAPSHOT").await;
    b.expect_within("PLAYERS_SNAPSHOT", 10_000).await;
    eprintln!(
        "hand-over: Ada back in her group {} ms after SIGTERM",
        stopped.elapsed().as_millis()
    );
    a.send(json!({"topic": "SEND_MESSAGE", "text": "moved", "to": "ALL"}))
        .await;
    assert_eq!(b.expect("SEND_MESSAGE").await["text"], "moved");
    assert!(b.closed.is_none(), "Bo's socket was closed: {:?}", b.closed);
    let after = &b.seen[b_before..];
    assert!(
        !after
            .iter()
            .any(|v| v["topic"] == "LEAVE_PLAYER" || v["topic"] == "JOIN_PLAYER"),
        "Bo saw a leave or join: {after:?}"
    );
    assert_eq!(ga["groups"].as_array().map(Vec::len), Some(1), "{ga} (was {room})");
    assert_eq!(c.owner(w), Some(1));
    let events = join_events(c.api(1), w, &ta).await;
    assert_eq!(
        events.iter().filter(|(_, k)| k == "LEAVE_PLAYER").count(),
        0,
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "CROWDWIRE_TEST_DATABASE_URL is not set")]
async fn presence_reaches_sockets_on_other_replicas_and_their_silence_is_found() {
    let _serial = SERIAL.lock().await;
    // Pings every 500 ms; a socket silent for 4 s is a dropped connection.
    let c = Cluster::start_with_env(
        2,
        &[
            ("CROWDWIRE_WS_PING_INTERVAL_MS", "500"),
            ("CROWDWIRE_WS_IDLE_TIMEOUT_MS", "4000"),
        ],
    )
    .await;
    let Pair {
        w, ta, mut a, mut b, ..
    } = pair(&c, "Far apart").await;
    let bo = a.expect("JOIN_PLAYER").await["user"]["user_id"].clone();
    // (Bo heard of Ada's spawn while waiting for his group.)
    let ada = b.seen_with("JOIN_PLAYER")[0]["user"]["user_id"].clone();
    let presence = |who: &Value, state: &str| json!({"topic": "PLAYER_PRESENCE", "user_id": who, "state": state});
    // Ada's network fails. Her world runs on replica 0, where her socket was; Bo's socket is
    // on replica 1, and the news reaches him there.
    a.reset();
    assert_eq!(
        b.expect_within("PLAYER_PRESENCE", 10_000).await,
        presence(&ada, "reconnecting")
    );
    // She comes back, through replica 1.
    let mut a = connect(&c, 1, w, &ta).await;
    assert_eq!(b.expect("PLAYER_PRESENCE").await, presence(&ada, "online"));
    assert!(b.seen_with("LEAVE_PLAYER").is_empty(), "{:?}", b.seen);
    // Bo's client stops reading, and so answering pings, on replica 1, away from his world:
    // that replica finds the silence and tells the world, which tells Ada.
    let stalled = b;
    assert_eq!(
        a.expect_within("PLAYER_PRESENCE", 15_000).await,
        presence(&bo, "reconnecting")
    );
    assert!(a.seen_with("LEAVE_PLAYER").is_empty(), "{:?}", a.seen);
    drop(stalled);
}
