//! Forwarding between peers: what a built `Rtc` reports (RTP, data channel messages,
//! keyframe requests, connection and estimates), RTP from a producer to its consumers, data
//! messages to data consumers, and keyframe requests to producers.

use std::time::{Duration, Instant};

use str0m::bwe::BweKind;
use str0m::media::{KeyframeRequestKind, MediaKind};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo, VideoOrientation};
use str0m::{Event, IceConnectionState, Rtc};
use tracing::debug;

use crate::caps::{ROUTER_CODECS, uri};
use crate::spare;

use super::Sfu;
use super::rate::RTP_OVERHEAD;
use super::speaking::VOICE_LEVEL;
use super::state::{Consumer, Producer, TransportKey};

/// The smallest gap between two keyframe requests relayed to one producer.
const KEYFRAME_THROTTLE: Duration = Duration::from_millis(300);

impl Sfu {
    /// Asks a producer for a keyframe, at most once per [`KEYFRAME_THROTTLE`].
    pub(super) fn request_keyframe(&mut self, producer: &str, now: Instant) {
        let Some(p) = self.producers.get_mut(producer) else {
            return;
        };
        if p.kind != MediaKind::Video || p.last_keyframe_request.is_some_and(|t| now < t + KEYFRAME_THROTTLE) {
            return;
        }
        p.last_keyframe_request = Some(now);
        let ssrc = p.ssrc;
        let tk = p.transport;
        if let Some(rtc) = self.transports.get_mut(tk).and_then(|t| t.rtc.as_mut())
            && let Some(rx) = rtc.direct_api().stream_rx(&ssrc.into())
        {
            rx.request_keyframe(KeyframeRequestKind::Pli);
            self.traffic.keyframe_requests += 1;
            self.mark(tk);
        }
    }

    pub(super) fn event(&mut self, now: Instant, tk: TransportKey, e: Event) {
        match e {
            Event::RtpPacket(p) => self.forward(tk, p),
            Event::KeyframeRequest(k) => {
                let producer = self
                    .transports
                    .get(tk)
                    .and_then(|t| t.consumers_by_mid.get(&k.mid.to_string()))
                    .and_then(|c| self.consumers.get(*c))
                    .map(|c| c.producer.clone());
                if let Some(p) = producer {
                    self.request_keyframe(&p, now);
                }
            }
            Event::ChannelData(data) => {
                let stream = self
                    .transports
                    .get_mut(tk)
                    .and_then(|t| t.rtc.as_mut())
                    .and_then(|r| r.direct_api().sctp_stream_id_by_channel_id(data.id));
                let dp = stream.and_then(|s| self.transports.get(tk)?.data_producers_by_stream.get(&s).cloned());
                if let Some(dp) = dp {
                    self.forward_data(&dp, data.binary, &data.data);
                }
            }
            Event::Connected => {
                // Consumers made before the transport was up start on a fresh keyframe.
                let producers: Vec<String> = self
                    .transports
                    .get(tk)
                    .map(|t| {
                        t.consumers_by_mid
                            .values()
                            .filter_map(|c| self.consumers.get(*c))
                            .map(|c| c.producer.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for p in producers {
                    if let Some(pr) = self.producers.get_mut(&p) {
                        pr.last_keyframe_request = None;
                    }
                    self.request_keyframe(&p, now);
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                debug!(transport = ?self.transports.get(tk).map(|t| &t.id), "ICE disconnected");
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate: b, .. }) => {
                if let Some(t) = self.transports.get_mut(tk) {
                    t.estimate = Some(b);
                }
            }
            _ => {}
        }
    }

    fn forward(&mut self, tk: TransportKey, pkt: RtpPacket) {
        self.traffic.rtp_in += 1;
        let Some(t) = self.transports.get(tk) else { return };
        let Some(pid) = t.producers_by_ssrc.get(&*pkt.header.ssrc) else {
            return;
        };
        let spare = |uri: &str| t.sending.as_ref().and_then(|s| s.spare_ids.get(uri).copied());
        let level_id = spare(uri::AUDIO_LEVEL);
        let orientation_id = spare(uri::VIDEO_ORIENTATION);
        let Some(p) = self.producers.get_mut(pid) else { return };
        let Some((router_pt, out_ext)) = take_packet(p, &pkt, level_id, orientation_id) else {
            return;
        };
        let video = p.kind == MediaKind::Video;
        let seq = *pkt.seq_no as i64;
        for &ck in &p.consumers {
            let Some(c) = self.consumers.get_mut(ck) else {
                continue;
            };
            // A consumer whose transport the browser has not reached yet gets nothing (and
            // its sequence numbers start when its stream does).
            let Some(t) = self.transports.get_mut(c.transport) else {
                continue;
            };
            let Some(rtc) = t.rtc.as_mut() else {
                continue;
            };
            if !write_rtp(c, rtc, &pkt, seq, router_pt, &out_ext, video) {
                continue;
            }
            self.traffic.rtp_out += 1;
            if !t.dirty {
                t.dirty = true;
                self.dirty.push(c.transport);
            }
        }
    }

    fn forward_data(&mut self, dp: &str, binary: bool, data: &[u8]) {
        self.traffic.data_in += 1;
        let Some(p) = self.data_producers.get(dp) else { return };
        let targets: Vec<String> = p
            .consumers
            .iter()
            .filter(|c| {
                !p.file
                    || self
                        .data_consumers
                        .get(*c)
                        .is_some_and(|c| p.target.as_deref() == Some(c.peer.as_str()))
            })
            .cloned()
            .collect();
        if p.file && targets.is_empty() {
            // A file goes only to the peer that started its download (not to the room).
            self.traffic.data_dropped += 1;
            return;
        }
        for cid in targets {
            let Some(c) = self.data_consumers.get(&cid) else {
                continue;
            };
            let stream = c.stream;
            let tk = c.transport;
            let Some(rtc) = self.transports.get_mut(tk).and_then(|t| t.rtc.as_mut()) else {
                self.traffic.data_dropped += 1;
                continue;
            };
            let ch = rtc.direct_api().channel_id_by_sctp_stream_id(stream);
            let written = ch.and_then(|id| rtc.channel(id)).map(|mut ch| ch.write(binary, data));
            match written {
                Some(Ok(true)) => self.traffic.data_out += 1,
                _ => self.traffic.data_dropped += 1,
            }
            self.mark(tk);
        }
    }
}

/// Counts an incoming packet on its producer (bytes for the rate, audio levels for the
/// voice meter); for a producer that is not paused, the router's payload type and the
/// header extensions to forward it with.
fn take_packet(
    p: &mut Producer,
    pkt: &RtpPacket,
    level_id: Option<u8>,
    orientation_id: Option<u8>,
) -> Option<(u8, ExtensionValues)> {
    p.bytes += (pkt.header.header_len + pkt.payload.len() + RTP_OVERHEAD) as u64;
    let ext = &pkt.header.ext_vals;
    let level = ext.audio_level.or_else(|| {
        level_id
            .and_then(|id| spare::spare_byte(ext, id))
            .map(|b| -((b & 0x7f) as i8))
    });
    if p.kind == MediaKind::Audio && !p.paused {
        p.voice.packets += 1;
        if level.is_some_and(|l| -l <= VOICE_LEVEL) {
            p.voice.loud += 1;
        }
    }
    if p.paused {
        return None;
    }
    let router_pt = p.pts.get(&*pkt.header.payload_type).map(|idx| ROUTER_CODECS[*idx].pt)?;
    let out_ext = ExtensionValues {
        audio_level: level,
        voice_activity: ext.voice_activity,
        video_orientation: ext.video_orientation.or_else(|| {
            orientation_id
                .and_then(|id| spare::spare_byte(ext, id))
                .map(VideoOrientation::from)
        }),
        ..Default::default()
    };
    Some((router_pt, out_ext))
}

/// Writes a forwarded packet to one consumer's stream; false if it was not written.
fn write_rtp(
    c: &mut Consumer,
    rtc: &mut Rtc,
    pkt: &RtpPacket,
    seq: i64,
    router_pt: u8,
    out_ext: &ExtensionValues,
    video: bool,
) -> bool {
    let offset = *c.seq_offset.get_or_insert(1000 - seq);
    let out_seq = seq + offset;
    if out_seq < 1 {
        return false;
    }
    let mut api = rtc.direct_api();
    let Some(tx) = api.stream_tx(&c.ssrc.into()) else {
        return false;
    };
    tx.write_rtp(
        RtpWrite::new(
            router_pt.into(),
            SeqNo::from(out_seq as u64),
            pkt.header.timestamp,
            pkt.timestamp,
            pkt.payload.clone(),
        )
        .marker(pkt.header.marker)
        .ext_vals(out_ext.clone())
        .nackable(video),
    );
    true
}
