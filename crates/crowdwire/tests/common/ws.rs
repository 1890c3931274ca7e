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
        let url = format!("{}/ws/{world}?token={token}", api.replace("http://", "ws://"));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        Client {
            ws,
            seen: Vec::new(),
            closed: None,
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
