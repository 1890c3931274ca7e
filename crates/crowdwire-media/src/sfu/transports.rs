//! Transports and their `Rtc`s: created with ICE credentials only, built when the browser
//! first reaches them (see the `sfu` module's doc), routed by STUN ufrag and source
//! address, polled until settled, and closed.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use str0m::bwe::Bitrate;
use str0m::change::DirectApi;
use str0m::config::Fingerprint;
use str0m::ice::StunMessage;
use str0m::net::{Protocol, Receive};
use str0m::rtp::ExtensionMap;
use str0m::{Candidate, IceCreds, Input, Output, Rtc, RtcConfig};
use tracing::{debug, warn};

use crate::caps::{self, ROUTER_CODECS};
use crate::deadlines::Deadlines;
use crate::params::SendTrack;
use crate::spare;

use super::rate::INITIAL_ESTIMATE_KBPS;
use super::signalling::{declare_consumer, producer_pts};
use super::state::{Consumer, DataConsumer, SendSide, Transport, TransportKey};
use super::{Out, RoomKey, Sfu, new_id};

/// A deadline further away than this is str0m's "never" (nothing scheduled).
const NEVER: Duration = Duration::from_secs(24 * 3600);

impl Sfu {
    /// Finds a STUN request's transport by our ufrag and learns the browser's ufrag
    /// (mediasoup-client never signals it; gotcha 1). The browser has reached the
    /// transport: a receive transport's `Rtc` is built now.
    pub(super) fn route_stun(&mut self, now: Instant, source: SocketAddr, data: &[u8]) -> Option<TransportKey> {
        let msg = StunMessage::parse(data).ok()?;
        let (ours, theirs) = msg.split_username()?;
        let key = *self.by_ufrag.get(ours)?;
        let t = self.transports.get_mut(key)?;
        if t.remote_ufrag.as_deref() != Some(theirs) {
            t.remote_ufrag = Some(theirs.to_owned());
            if let Some(rtc) = t.rtc.as_mut() {
                rtc.direct_api().set_remote_ice_credentials(IceCreds {
                    ufrag: theirs.to_owned(),
                    pass: String::new(),
                });
            }
        }
        if !t.sources.contains(&source) {
            t.sources.push(source);
            if let Some(old) = self.by_source.insert(source, key)
                && old != key
                && let Some(o) = self.transports.get_mut(old)
            {
                o.sources.retain(|s| *s != source);
            }
        }
        let (room, peer) = {
            let t = &self.transports[key];
            (t.room.clone(), t.peer.clone())
        };
        self.claim(&room, &peer);
        if !self.transports[key].send
            && let Err(e) = self.build_recv_rtc(now, key)
        {
            debug!("receive transport not built: {e}");
        }
        Some(key)
    }

    fn base_config(&self, creds: &IceCreds) -> RtcConfig {
        RtcConfig::new()
            .set_ice_lite(true)
            .set_local_ice_credentials(creds.clone())
            .set_dtls_cert(self.cert.clone())
            .set_rtp_mode(true)
            .clear_codecs()
            .set_sctp_max_buffered_amount(self.config.data_buffer_bytes)
    }

    /// A transport with no `Rtc` yet: an id and ICE credentials, nothing else.
    pub(super) fn create_transport(&mut self, now: Instant, key: &RoomKey, peer: &str, send: bool) -> TransportKey {
        let id = new_id(&self.id_prefix, &mut self.ids);
        let creds = IceCreds::new();
        let ufrag = creds.ufrag.clone();
        let _ = now;
        let tk = self.transports.insert(Transport {
            id: id.clone(),
            room: key.clone(),
            peer: peer.to_owned(),
            send,
            rtc: None,
            creds,
            remote: None,
            remote_ufrag: None,
            pending: Vec::new(),
            deadline: None,
            dirty: false,
            sources: Vec::new(),
            next_mid: 0,
            next_stream: 1,
            sending: None,
            producers_by_ssrc: HashMap::new(),
            consumers_by_mid: HashMap::new(),
            data_producers_by_stream: HashMap::new(),
            estimate: None,
            desired: 0,
        });
        self.by_ufrag.insert(ufrag, tk);
        self.transport_ids.insert(id, tk);
        tk
    }

    fn finish_rtc(&mut self, config: RtcConfig, now: Instant) -> Rtc {
        let mut rtc = config.build(now);
        match Candidate::host(self.config.candidate, "udp") {
            Ok(c) => {
                rtc.add_local_candidate(c);
            }
            Err(e) => warn!("bad media candidate {}: {e}", self.config.candidate),
        }
        let mut api = rtc.direct_api();
        api.set_ice_controlling(false);
        api.enable_twcc_feedback();
        self.traffic.rtcs_built += 1;
        rtc
    }

    /// What a built `Rtc` needs of what the transport learnt before it existed: the browser's
    /// ICE username, its DTLS fingerprint, and the datagrams that arrived meanwhile.
    fn adopt_rtc(&mut self, now: Instant, tk: TransportKey, mut rtc: Rtc) -> Result<(), String> {
        let candidate = self.config.candidate;
        let t = self.transports.get_mut(tk).ok_or("no such transport")?;
        if let Some(u) = &t.remote_ufrag {
            rtc.direct_api().set_remote_ice_credentials(IceCreds {
                ufrag: u.clone(),
                pass: String::new(),
            });
        }
        if let Some(remote) = &t.remote {
            start_dtls(&mut rtc, remote)?;
        }
        for (at, source, data) in t.pending.drain(..) {
            feed(&mut rtc, at.max(now), source, candidate, &data);
        }
        t.pending = Vec::new();
        t.rtc = Some(Box::new(rtc));
        t.desired = 0;
        self.mark(tk);
        Ok(())
    }

    /// Builds a receive transport's `Rtc`, with the consumers and data consumers made for it
    /// so far.
    pub(super) fn build_recv_rtc(&mut self, now: Instant, tk: TransportKey) -> Result<(), String> {
        let Some(t) = self.transports.get(tk) else {
            return Err("no such transport".into());
        };
        if t.rtc.is_some() || t.send {
            return Ok(());
        }
        let mut config = self
            .base_config(&t.creds)
            .set_extension_map(caps::recv_extension_map())
            .enable_bwe(Some(Bitrate::kbps(INITIAL_ESTIMATE_KBPS)));
        caps::recv_codec_config(config.codec_config());
        let mut rtc = self.finish_rtc(config, now);
        let t = &self.transports[tk];
        {
            let mut api = rtc.direct_api();
            let mut consumers: Vec<&Consumer> = t
                .consumers_by_mid
                .values()
                .filter_map(|c| self.consumers.get(*c))
                .collect();
            consumers.sort_by_key(|c| c.mid.parse::<u32>().unwrap_or(u32::MAX));
            for c in consumers {
                declare_consumer(&mut api, c);
            }
            let mut channels: Vec<&DataConsumer> = self.data_consumers.values().filter(|c| c.transport == tk).collect();
            channels.sort_by_key(|c| c.stream);
            for c in channels {
                api.create_data_channel(c.channel.clone());
            }
        }
        self.adopt_rtc(now, tk, rtc)
    }

    pub(super) fn transport_options(&self, tk: TransportKey) -> Value {
        let Some(t) = self.transports.get(tk) else {
            return Value::Null;
        };
        let c = self.config.candidate;
        json!({
            "id": t.id,
            "iceParameters": {"usernameFragment": t.creds.ufrag, "password": t.creds.pass, "iceLite": true},
            "iceCandidates": [{
                "foundation": "udpcandidate",
                "priority": self.candidate_priority,
                "ip": c.ip().to_string(),
                "address": c.ip().to_string(),
                "port": c.port(),
                "type": "host",
                "protocol": "udp",
            }],
            "dtlsParameters": {"role": "auto", "fingerprints": [self.fingerprint]},
            "sctpParameters": {"port": 5000, "OS": 1024, "MIS": 1024, "maxMessageSize": 262_144},
        })
    }

    /// The transport `id` if it is `peer`'s in `key`, in the wanted direction.
    pub(super) fn own_transport(
        &self,
        key: &RoomKey,
        peer: &str,
        id: &str,
        send: Option<bool>,
    ) -> Result<TransportKey, String> {
        let tk = self.transport_ids.get(id).copied();
        match tk.and_then(|k| Some((k, self.transports.get(k)?))) {
            Some((k, t)) if &t.room == key && t.peer == peer && send.is_none_or(|s| s == t.send) => Ok(k),
            Some(_) | None => Err("no such transport for you in this room".to_owned()),
        }
    }

    /// Builds a send transport's `Rtc` with the browser's header-extension ids and
    /// payload types from its first produce (gotchas 2 and 3), then replays what arrived
    /// before it existed.
    pub(super) fn build_send_rtc(
        &mut self,
        now: Instant,
        tk: TransportKey,
        sent: Option<&SendTrack>,
    ) -> Result<(), String> {
        let Some(t) = self.transports.get(tk) else {
            return Err("no such transport".into());
        };
        if t.rtc.is_some() {
            return Ok(());
        }
        let mut map = ExtensionMap::empty();
        let mut pts: HashMap<u8, usize> = HashMap::new();
        let mut rtx_of: HashMap<usize, u8> = HashMap::new();
        match sent {
            Some(s) => {
                for e in &s.rtp_parameters.header_extensions {
                    if let Some(ext) = caps::extension_of(&e.uri)
                        && (1..=14).contains(&e.id)
                    {
                        map.set(e.id, ext);
                    }
                }
                let (p, r) = producer_pts(&s.rtp_parameters)?;
                pts.extend(p);
                rtx_of.extend(r);
            }
            None => map = ExtensionMap::standard(),
        }
        spare::fill_spare(&mut map);
        let mut config = self.base_config(&t.creds).set_extension_map(map.clone());
        // Named codecs at the browser's numbers; the rest at the router's, where free.
        let named: HashSet<usize> = pts.values().copied().collect();
        let mut used: HashSet<u8> = pts.keys().copied().chain(rtx_of.values().copied()).collect();
        let mut table = pts.clone();
        for (pt, idx) in &pts {
            caps::add_codec(
                config.codec_config(),
                &ROUTER_CODECS[*idx],
                *pt,
                rtx_of.get(idx).copied(),
            );
        }
        for (idx, c) in ROUTER_CODECS.iter().enumerate() {
            if named.contains(&idx) || used.contains(&c.pt) || c.rtx.is_some_and(|r| used.contains(&r)) {
                continue;
            }
            used.insert(c.pt);
            if let Some(r) = c.rtx {
                used.insert(r);
            }
            table.insert(c.pt, idx);
            caps::add_codec(config.codec_config(), c, c.pt, c.rtx);
        }
        let rtc = self.finish_rtc(config, now);
        self.adopt_rtc(now, tk, rtc)?;
        let t = self.transports.get_mut(tk).expect("adopted above");
        t.sending = Some(Box::new(SendSide {
            map,
            pts: table,
            spare_ids: HashMap::new(),
        }));
        Ok(())
    }

    pub(super) fn close_transport(&mut self, tk: TransportKey) {
        // What hangs off the transport goes first (it finds its room through it).
        let (consumers, producers, data_producers) = match self.transports.get(tk) {
            Some(t) => (
                t.consumers_by_mid.values().copied().collect::<Vec<_>>(),
                t.producers_by_ssrc.values().cloned().collect::<Vec<_>>(),
                t.data_producers_by_stream.values().cloned().collect::<Vec<_>>(),
            ),
            None => return,
        };
        for c in consumers {
            self.close_consumer(c);
        }
        for p in producers {
            self.close_producer(&p);
        }
        for dp in data_producers {
            self.close_data_producer(&dp);
        }
        let data: Vec<String> = self
            .data_consumers
            .iter()
            .filter(|(_, c)| c.transport == tk)
            .map(|(k, _)| k.clone())
            .collect();
        for c in data {
            self.close_data_consumer(&c);
        }
        let Some(mut t) = self.transports.remove(tk) else {
            return;
        };
        if self.transports.is_empty() {
            // Every deadline left is stale.
            self.deadlines = Deadlines::default();
        }
        self.transport_ids.remove(&t.id);
        self.by_ufrag.remove(&t.creds.ufrag);
        for s in &t.sources {
            if self.by_source.get(s) == Some(&tk) {
                self.by_source.remove(s);
            }
        }
        if let Some(rtc) = t.rtc.as_mut() {
            rtc.disconnect();
            // Flush the close (DTLS close_notify) so the browser learns at once.
            while let Ok(o) = rtc.poll_output() {
                match o {
                    Output::Transmit(tx) => self.out.push(Out::Transmit {
                        to: tx.destination,
                        data: tx.contents.to_vec(),
                    }),
                    Output::Timeout(_) => break,
                    Output::Event(_) => {}
                }
            }
        }
    }

    /// Polls every touched `Rtc` until nothing is left to do, and files its next deadline.
    pub(super) fn settle(&mut self, now: Instant) {
        while let Some(tk) = self.dirty.pop() {
            let mut events = Vec::new();
            let Some(t) = self.transports.get_mut(tk) else {
                continue;
            };
            t.dirty = false;
            let Some(rtc) = t.rtc.as_mut() else { continue };
            let next = loop {
                match rtc.poll_output() {
                    Ok(Output::Transmit(tx)) => self.out.push(Out::Transmit {
                        to: tx.destination,
                        data: tx.contents.to_vec(),
                    }),
                    Ok(Output::Timeout(at)) => break Some(at),
                    Ok(Output::Event(e)) => events.push(e),
                    Err(e) => {
                        debug!(transport = %t.id, "poll failed: {e}");
                        break None;
                    }
                }
            };
            // A deadline is filed only when it moves; str0m's "never" files none.
            let next = next.filter(|at| at.saturating_duration_since(now) < NEVER);
            if next != t.deadline {
                t.deadline = next;
                if let Some(at) = next {
                    self.deadlines.schedule(tk, at);
                }
            }
            for e in events {
                self.event(now, tk, e);
            }
        }
    }
}

pub(super) fn start_dtls(rtc: &mut Rtc, remote: &(Fingerprint, bool)) -> Result<(), String> {
    let mut api: DirectApi<'_> = rtc.direct_api();
    api.set_remote_fingerprint(remote.0.clone());
    api.start_dtls(remote.1)
        .map_err(|e| format!("DTLS start failed: {e}"))?;
    api.start_sctp(remote.1);
    Ok(())
}

pub(super) fn feed(rtc: &mut Rtc, now: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
    let Ok(contents) = data.try_into() else { return };
    let input = Input::Receive(
        now,
        Receive {
            proto: Protocol::Udp,
            source,
            destination,
            contents,
        },
    );
    if let Err(e) = rtc.handle_input(input) {
        debug!("datagram refused: {e}");
    }
}
