//! The listener's bounds over real sockets (security review F6 and F14): slow headers and
//! stalled upgrades are dropped, idle keep-alive connections closed, connections per client
//! address capped (WebSockets included), a WebSocket whose admission hangs told to try
//! again, and metrics served on the admin listener, not to the public.
//!
//! No assertion is about timing beyond "closed before a generous bound": the servers here
//! get short timeouts, and a bound many times longer.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use sqlx::Connection as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::ws::Client;
use common::{Backend, TestServer};

/// How long a test waits for the server to close a connection it should close (its timeouts
/// here are 1 s).
const BOUND: Duration = Duration::from_secs(30);

db_tests!(a_websocket_whose_admission_hangs_is_told_to_try_again);

/// A server on SQLite whose header-read timeout is one second.
async fn impatient_server() -> TestServer {
    TestServer::start_with(Backend::Sqlite, |c| {
        c.listener.header_read_timeout = Duration::from_secs(1)
    })
    .await
}

fn main_addr(s: &TestServer) -> SocketAddr {
    s.running.as_ref().expect("running").addr
}

/// Reads until the server closes the connection (end of stream, or reset) and returns what it
/// sent; `None` when it is still open after [`BOUND`].
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let deadline = tokio::time::Instant::now() + BOUND;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A connection to `to` from the loopback address `from`: the per-address cap counts it
/// apart from the harness's own HTTP client (on 127.0.0.1).
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.expect("connects")
}

/// `GET /api/v1/health` on a new connection from `from` with `Connection: close`; returns
/// all the server sent before closing.
async fn health_from(from: &str, to: SocketAddr) -> String {
    let mut stream = connect_from(from, to).await;
    let request = b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    // A refused connection may be closed before the request is written.
    if stream.write_all(request).await.is_err() {
        return String::new();
    }
    read_until_closed(&mut stream)
        .await
        .expect("the server answers and closes")
}

/// Retries [`health_from`] until it is served (a closed connection gives its place back a
/// moment later, when the server has seen it close).
async fn served_again(from: &str, to: SocketAddr) {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let answer = health_from(from, to).await;
        if answer.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never served again: {answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_dropped_while_others_are_served() {
    let s = impatient_server().await;
    let stream = TcpStream::connect(main_addr(&s)).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    // One byte of a header every 100 ms, never ending the headers (slowloris).
    let trickle = tokio::spawn(async move {
        for byte in b"X-Slow: ".iter().cycle() {
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // Meanwhile another connection is served.
    assert_eq!(s.get("/health", None).await.0, StatusCode::OK);
    let sent = read_until_closed(&mut read).await.expect("the slow client is dropped");
    assert!(
        !sent.contains(" 200 "),
        "no response to an unfinished request: {sent:?}"
    );
    trickle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let s = impatient_server().await;
    let mut stream = TcpStream::connect(main_addr(&s)).await.unwrap();
    stream
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // The response arrives, and then, with no further request, the connection closes.
    let sent = read_until_closed(&mut stream)
        .await
        .expect("the idle connection is closed");
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent:?}");
    assert!(
        !sent.to_ascii_lowercase().contains("connection: close"),
        "kept alive at first: {sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_that_stalls_is_dropped() {
    let s = impatient_server().await;
    let admin = s.admin().await;
    let w = s.world(&admin, "Stalled", true, true).await;
    let mut stream = TcpStream::connect(main_addr(&s)).await.unwrap();
    let head = format!(
        "GET /api/v1/ws/{w}?token={admin} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let sent = read_until_closed(&mut stream)
        .await
        .expect("the stalled upgrade is dropped");
    assert!(!sent.contains(" 101 "), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_address_cap_are_refused_until_one_closes() {
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.listener.max_per_ip = Some(3);
        // The held connections must outlive the test.
        c.listener.header_read_timeout = Duration::from_secs(120);
    })
    .await;
    let addr = main_addr(&s);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.2", addr).await);
    }
    // The three are accepted before the fourth, which is refused.
    let refused = health_from("127.0.0.2", addr).await;
    assert!(
        refused.is_empty() || refused.starts_with("HTTP/1.1 429"),
        "the fourth is refused: {refused:?}"
    );
    // Another address has its own count.
    assert!(health_from("127.0.0.3", addr).await.starts_with("HTTP/1.1 200"));
    // A held connection is served as usual.
    let mut first = held.remove(0);
    first
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut first).await.expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    // It has closed: its place is free again.
    served_again("127.0.0.2", addr).await;
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("crowdwire_http_connections_refused_total{reason=\"per_ip_cap\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_holds_its_place_under_the_cap_until_it_closes() {
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.listener.max_per_ip = Some(2);
        c.listener.header_read_timeout = Duration::from_secs(120);
    })
    .await;
    let addr = main_addr(&s);
    let admin = s.admin().await;
    let w = s.world(&admin, "Capped", true, true).await;
    let stream = connect_from("127.0.0.2", addr).await;
    let url = format!("ws://{addr}/api/v1/ws/{w}?token={admin}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("the WebSocket opens");
    let _other = connect_from("127.0.0.2", addr).await;
    let refused = health_from("127.0.0.2", addr).await;
    assert!(
        refused.is_empty() || refused.starts_with("HTTP/1.1 429"),
        "the WebSocket still counts after its upgrade: {refused:?}"
    );
    ws.close(None).await.unwrap();
    drop(ws);
    served_again("127.0.0.2", addr).await;
}

/// Holds the database so that admitting a newcomer to a world waits: SQLite's write lock, or
/// an exclusive lock on PostgreSQL's `worlds` table.
enum HeldDatabase {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl HeldDatabase {
    async fn hold(url: &str) -> HeldDatabase {
        if url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE").execute(&mut c).await.unwrap();
            HeldDatabase::Sqlite(c)
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut c).await.unwrap();
            sqlx::query("LOCK TABLE worlds IN ACCESS EXCLUSIVE MODE")
                .execute(&mut c)
                .await
                .unwrap();
            HeldDatabase::Postgres(c)
        }
    }

    async fn release(self) {
        match self {
            HeldDatabase::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
            HeldDatabase::Postgres(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
        }
    }
}

async fn a_websocket_whose_admission_hangs_is_told_to_try_again(b: Backend) {
    let s = TestServer::start_with(b, |c| c.realtime.handshake_timeout = Duration::from_secs(1)).await;
    let admin = s.admin().await;
    let w = s.world(&admin, "Held", true, true).await;
    // Not a member yet: admission enters the world, which needs the database.
    let (_, token) = s.user("Newcomer").await;
    let held = HeldDatabase::hold(&s.config.database_url).await;
    let mut c = Client::connect(&s, w, &token).await;
    let code = tokio::time::timeout(BOUND, c.closed_with())
        .await
        .expect("closed before the bound");
    assert_eq!(code, 1013, "try again: {:?}", c.seen);
    held.release().await;
    // With the database answering again, the same client gets in.
    let mut c = Client::connect(&s, w, &token).await;
    c.expect("PLAYERS_SNAPSHOT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_the_admin_listener_and_not_to_the_public() {
    let s = TestServer::start(Backend::Sqlite).await;
    let public = s.http.get(format!("{}/metrics", s.root)).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    // A token does not open what is not configured.
    let public = s
        .http
        .get(format!("{}/metrics", s.root))
        .bearer_auth("any-token-at-all-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.get("/health", None).await.0, StatusCode::OK);
    let admin = s.http.get(format!("{}/metrics", s.admin_root())).send().await.unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    let text = admin.text().await.unwrap();
    for name in [
        "http_requests_total{",
        "http_request_duration_seconds_bucket",
        "crowdwire_connected_users",
    ] {
        assert!(text.contains(name), "{name} in {text}");
    }
    let health = s.http.get(format!("{}/health", s.admin_root())).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<serde_json::Value>().await.unwrap()["status"], "ok");
    // The admin listener serves nothing else.
    let other = s
        .http
        .get(format!("{}/api/v1/users", s.admin_root()))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_opens_public_metrics_to_its_bearer_only() {
    const TOKEN: &str = "metrics-token-for-the-tests-0123";
    let s = TestServer::start_with(Backend::Sqlite, |c| c.metrics_token = Some(TOKEN.into())).await;
    let url = format!("{}/metrics", s.root);
    let without = s.http.get(&url).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    for wrong in [
        "wrong",
        "metrics-token-for-the-tests-0124",
        "metrics-token-for-the-tests-01234",
    ] {
        let r = s.http.get(&url).bearer_auth(wrong).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{wrong}");
    }
    let basic = s
        .http
        .get(&url)
        .basic_auth("prometheus", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let right = s.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("crowdwire_connected_users"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_can_be_turned_off() {
    let s = TestServer::start_with(Backend::Sqlite, |c| c.admin_bind = None).await;
    assert_eq!(s.running.as_ref().unwrap().admin_addr, None);
    assert_eq!(s.get("/health", None).await.0, StatusCode::OK);
}
