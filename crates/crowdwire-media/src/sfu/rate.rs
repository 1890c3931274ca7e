//! Rate control: what each receive transport's bandwidth estimator is asked to find room
//! for, and REMB caps on video producers when a consumer's link is congested.

use std::collections::HashMap;

use str0m::bwe::Bitrate;
use str0m::media::MediaKind;

use super::Sfu;
use super::state::TransportKey;

/// str0m's egress estimate towards a consumer starts here; only a lower estimate is
/// measured congestion (without probing it never rises above it).
pub(super) const INITIAL_ESTIMATE_KBPS: u64 = 800;
/// The REMB sent to lift a cap once every consumer's link has recovered.
const UNCAPPED_KBPS: u64 = 10_000;
/// IP, UDP and SRTP bytes a packet carries besides its RTP header and payload.
pub(super) const RTP_OVERHEAD: usize = 20 + 8 + 10;

impl Sfu {
    /// Asks each receive transport's estimator to find room for what it forwards: the
    /// measured rates of its consumers' producers, with headroom. Without this, str0m
    /// paces a consumer at its initial estimate and a group of several cameras queues up
    /// seconds of delay; raising the desired rate makes it probe the link.
    pub(super) fn desired_bitrate_tick(&mut self) {
        for p in self.producers.values_mut() {
            p.rate = p.bytes * 8;
            p.bytes = 0;
        }
        let mut wanted: HashMap<TransportKey, u64> = HashMap::new();
        for c in self.consumers.values() {
            if let Some(p) = self.producers.get(&c.producer)
                && !p.paused
            {
                *wanted.entry(c.transport).or_default() += p.rate;
            }
        }
        let mut touched = Vec::new();
        for (tk, t) in self.transports.iter_mut() {
            // Only a built receive transport has an estimator to ask.
            if t.send {
                continue;
            }
            let Some(rtc) = t.rtc.as_mut() else {
                continue;
            };
            let rate = wanted.get(&tk).copied().unwrap_or(0);
            let desired = (rate + rate / 4).max(INITIAL_ESTIMATE_KBPS * 1000);
            // An increase starts a probe, which costs padding towards that consumer: raise
            // only past what the link is known to carry and by a clear step (rates swing
            // with keyframes); lower only when the need has halved.
            let known = (t.estimate.map_or(0.0, |b| b.as_f64()) as u64).max(t.desired);
            let raise = desired > known + known / 10;
            let lower = desired < t.desired / 2;
            if !raise && !lower {
                continue;
            }
            t.desired = desired;
            rtc.bwe().set_bitrate(Bitrate::ZERO, Bitrate::from(desired));
            touched.push(tk);
        }
        for tk in touched {
            self.mark(tk);
        }
    }

    /// Caps each video producer's bitrate at what its slowest consumer's link carries,
    /// when a consumer's link is congested; lifts the cap when all have recovered.
    pub(super) fn remb_tick(&mut self) {
        let initial = Bitrate::kbps(INITIAL_ESTIMATE_KBPS).as_f64();
        let mut caps_ = Vec::new();
        for p in self.producers.values_mut() {
            if p.kind != MediaKind::Video {
                continue;
            }
            let min = p
                .consumers
                .iter()
                .filter_map(|c| self.consumers.get(*c))
                .filter_map(|c| self.transports.get(c.transport)?.estimate)
                .map(|b| b.as_f64())
                .fold(f64::INFINITY, f64::min);
            if min < initial {
                p.capped = true;
                caps_.push((p.transport, p.ssrc, Bitrate::from(min)));
            } else if p.capped {
                p.capped = false;
                caps_.push((p.transport, p.ssrc, Bitrate::kbps(UNCAPPED_KBPS)));
            }
        }
        for (tk, ssrc, b) in caps_ {
            if let Some(rtc) = self.transports.get_mut(tk).and_then(|t| t.rtc.as_mut())
                && let Some(rx) = rtc.direct_api().stream_rx(&ssrc.into())
            {
                rx.request_remb(b);
                self.mark(tk);
            }
        }
    }
}
