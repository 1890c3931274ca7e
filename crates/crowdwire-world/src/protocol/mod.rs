//! The WebSocket protocol (see docs/protocol.md), parsed once at the edge into typed messages.
//!
//! Every frame is a JSON object with a `topic` naming the variant of a serde-tagged enum:
//! [`ClientMessage`] (`client.rs`) for what clients send; [`ServerMessage`] (`server.rs`) and
//! [`MediaMessage`] (`media.rs`) for what they get, serialised to exactly the shapes the
//! original client reads. An unknown topic or malformed input is a [`ParseError`], answered
//! with an `error` message rather than ending the session. The web client's TypeScript types
//! and the topic index in docs/protocol.md are generated from these definitions
//! (`tests/protocol_bindings.rs`).
//!
//! User ids travel as strings: the decimal id of a registered user, or a guest's UUID.

mod client;
mod media;
mod server;
#[cfg(test)]
mod tests;

pub use client::*;
pub use media::*;
pub use server::*;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

/// A position in map pixels (the avatar container's origin, as the client sends it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Position {
    /// X, px.
    pub x: f64,
    /// Y, px.
    pub y: f64,
}

impl Position {
    /// Distance to another position.
    pub fn distance(&self, o: &Position) -> f64 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }
}

/// A position that may be given as `{}` (unknown), as the original client does.
#[derive(Clone, Copy, Debug, Default, Deserialize, TS)]
pub struct MaybePosition {
    #[ts(optional)]
    x: Option<f64>,
    #[ts(optional)]
    y: Option<f64>,
}

impl MaybePosition {
    /// The position, when both coordinates are present and finite.
    pub fn get(&self) -> Option<Position> {
        match (self.x, self.y) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Some(Position { x, y }),
            _ => None,
        }
    }
}

/// A velocity in px/s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Velocity {
    /// X.
    #[serde(default)]
    pub x: f64,
    /// Y.
    #[serde(default)]
    pub y: f64,
}

/// A user id as sent by a client: a number or a string; normalised to a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, TS)]
#[ts(type = "string | number")]
pub struct WireId(pub String);

impl WireId {
    /// The id a JSON value holds: a string, or a number (as its decimal text).
    pub fn from_value(v: &Value) -> Option<WireId> {
        match v {
            Value::String(s) => Some(WireId(s.clone())),
            Value::Number(n) => Some(WireId(n.to_string())),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        WireId::from_value(&v).ok_or_else(|| serde::de::Error::custom(format!("expected a user id, got {v}")))
    }
}
