//! The realtime layer's settings.

use std::time::Duration;

use crowdwire_world::engine::EngineConfig;

/// Settings of the realtime layer.
#[derive(Clone, Debug)]
pub struct RealtimeSettings {
    /// Proximity radius, px.
    pub proximity_radius: f64,
    /// Parting distance as a multiple of the radius.
    pub proximity_hysteresis: f64,
    /// Largest proximity group.
    pub max_group_size: usize,
    /// Area of interest (a viewport), px.
    pub interest_area: (f64, f64),
    /// Longest chat message, characters.
    pub chat_max_chars: usize,
    /// Largest incoming frame, bytes.
    pub max_frame_bytes: usize,
    /// Frames a socket may have queued before it is cut off.
    pub outbound_bound: usize,
    /// Sustained messages per second per connection, and burst.
    pub rate: (f64, f64),
    /// A dropped connection keeps its place this long.
    pub reconnect_grace: Duration,
    /// Every socket gets a WebSocket Ping this often. Browsers answer in their network stack,
    /// without the page's script (a busy page or a background tab answers too), so a live
    /// client is never silent for much longer than this. Not zero.
    pub ping_interval: Duration,
    /// A socket from which nothing has arrived this long (no frame of any kind, pongs
    /// included) is a dropped connection: a network path that died without a FIN or RST,
    /// found this long after it died. Two or three ping intervals.
    pub idle_timeout: Duration,
    /// An upgraded socket must be admitted (token, world and place checked) within this long,
    /// or it is closed with 1013 and the client tries again.
    pub handshake_timeout: Duration,
    /// A world hands its sockets what its turns produced at most this often (movements
    /// once per mover, at their latest positions): a message waits at most this long, and a
    /// busy socket gets one write per interval however many turns the world takes.
    pub flush_interval: Duration,
    /// A world's lease lives this long unless its owner renews it (a dead owner's worlds are
    /// taken over after at most this long).
    pub lease_ttl: Duration,
    /// How often a world's owner rewrites its presence entries (which live three times this).
    pub presence_refresh: Duration,
    /// Someone kicked may not come back into the world for this long.
    pub kick_cooldown: Duration,
    /// A guest banned live is kept out of the world this long (guests have no account to
    /// carry a lasting ban; a new guest identity is a new guest).
    pub guest_ban: Duration,
}

impl Default for RealtimeSettings {
    /// The world engine's own defaults (defined once, in [`EngineConfig`]), and the realtime
    /// layer's.
    fn default() -> RealtimeSettings {
        let e = EngineConfig::default();
        RealtimeSettings {
            proximity_radius: e.proximity.radius,
            proximity_hysteresis: e.proximity.leave_radius / e.proximity.radius,
            max_group_size: e.proximity.max_group,
            interest_area: e.interest_area,
            chat_max_chars: e.chat_max_chars,
            max_frame_bytes: 64 * 1024,
            outbound_bound: 2048,
            rate: (e.rate_per_sec, e.rate_burst),
            reconnect_grace: Duration::from_millis(e.reconnect_grace_ms),
            ping_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            flush_interval: Duration::from_millis(16),
            lease_ttl: Duration::from_secs(3),
            presence_refresh: Duration::from_secs(2),
            kick_cooldown: Duration::from_millis(e.kick_cooldown_ms),
            guest_ban: Duration::from_secs(24 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_defaults_are_the_servers() {
        let s = RealtimeSettings::default();
        assert_eq!((s.proximity_radius, s.max_group_size), (150.0, 16));
        assert!((s.proximity_hysteresis - 1.2).abs() < 1e-9);
        assert_eq!(s.rate, (40.0, 80.0));
        assert_eq!(s.reconnect_grace, Duration::from_secs(30));
        assert_eq!(s.kick_cooldown, Duration::from_secs(60));
    }
}
