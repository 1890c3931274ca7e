//! A WebSocket client for the tests: collects what it receives and waits for topics.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::TestServer;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client that collects everything it receives.
pub struct Client {
    /// The socket.
    pub ws: Socket,
    /// Everything received so far.
    pub seen: Vec<Value>,
    /// The close code, once closed.
    pub closed: Option<u16>,
}

impl Client {
    pub async fn connect(s: &TestServer, world: i64, token: &str) -> Client {
        Client::connect_to(&s.api, world, token).await
    }

    /// Connects to the server whose API is at `api` (`http://…/api/v1`).
    pub async fn connect_to(api: &str, world: i64, token: &str) -> Client {
        Client::open(format!("{}/ws/{world}?token={token}", api.replace("http://", "ws://"))).await
    }

    /// Connects with `?batch=1`: every frame is a JSON array of messages.
    pub async fn connect_batched(s: &TestServer, world: i64, token: &str) -> Client {
        Client::open(format!(
            "{}/ws/{world}?token={token}&batch=1",
            s.api.replace("http://", "ws://")
        ))
        .await
    }

    async fn open(url: String) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        Client {
            ws,
            seen: Vec::new(),
            closed: None,
        }
    }

    /// Cuts the connection as a network failure does: a TCP reset, no close frame.
    pub fn reset(self) {
        match self.ws.get_ref() {
            tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.set_zero_linger().expect("SO_LINGER"),
            _ => unreachable!("the tests connect without TLS"),
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    pub async fn send_text(&mut self, t: &str) {
        self.ws.send(Message::Text(t.to_owned().into())).await.expect("send");
    }

    /// Next text frame within `ms` (JSON value, or a JSON string for non-JSON text).
    pub async fn next(&mut self, ms: u64) -> Option<Value> {
        loop {
            match tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v = serde_json::from_str(t.as_str()).unwrap_or(Value::String(t.to_string()));
                    self.seen.push(v.clone());
                    return Some(v);
                }
                Ok(Some(Ok(Message::Close(f)))) => {
                    self.closed = Some(f.map(|f| u16::from(f.code)).unwrap_or(1005));
                    return None;
                }
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    /// Waits for a message with this topic (skipping others), up to 3 s.
    pub async fn expect(&mut self, topic: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while tokio::time::Instant::now() < deadline {
            if let Some(v) = self.next(200).await {
                if v["topic"] == topic || (topic == "PONG" && v == "PONG") {
                    return v;
                }
            } else if self.closed.is_some() {
                break;
            }
        }
        panic!("no {topic} received; got {:?}", self.seen);
    }

    /// Waits up to `ms` for a message with this topic.
    pub async fn expect_within(&mut self, topic: &str, ms: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while tokio::time::Instant::now() < deadline {
            if let Some(v) = self.next(200).await
                && v["topic"] == topic
            {
                return v;
            }
        }
        panic!("no {topic} within {ms} ms; got {:?}", self.seen);
    }

    /// Waits up to `ms` for a message with this topic inside the JSON arrays of a batched
    /// socket (every frame must be an array).
    pub async fn expect_batched(&mut self, topic: &str, ms: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while tokio::time::Instant::now() < deadline {
            if let Some(v) = self.next(200).await {
                let batch = v
                    .as_array()
                    .unwrap_or_else(|| panic!("a batched frame is an array: {v}"));
                if let Some(m) = batch.iter().find(|m| m["topic"] == topic) {
                    return m.clone();
                }
            }
        }
        panic!("no {topic} within {ms} ms; got {:?}", self.seen);
    }

    /// The messages received so far with this topic (batches taken apart).
    pub fn seen_with(&self, topic: &str) -> Vec<&Value> {
        self.seen
            .iter()
            .flat_map(|v| match v {
                Value::Array(batch) => batch.iter().collect(),
                one => vec![one],
            })
            .filter(|m| m["topic"] == topic)
            .collect()
    }

    /// Asserts nothing with this topic arrives within `ms`.
    pub async fn expect_no(&mut self, topic: &str, ms: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while tokio::time::Instant::now() < deadline {
            if let Some(v) = self.next(50).await {
                assert_ne!(v["topic"], topic, "unexpected {topic}: {v}");
            }
        }
    }

    /// Reads until the socket closes; returns the close code.
    pub async fn closed_with(&mut self) -> u16 {
        for _ in 0..100 {
            if self.next(100).await.is_none() && self.closed.is_some() {
                break;
            }
        }
        self.closed.expect("socket closed")
    }
}
