//! Room membership: joining (with fresh transports) and leaving, a peer claiming its room,
//! the transports of peers that never do expiring, and closing producers, consumers, data
//! producers and data consumers.

use std::time::Instant;

use serde_json::{Value, json};

use crowdwire_world::protocol::{MediaMessage, MediaPayload};

use super::state::{ConsumerKey, Peer, TransportKey};
use super::{RoomKey, Sfu};

impl Sfu {
    /// The peer has shown it is a media client in this room: its transports stay.
    pub(super) fn claim(&mut self, key: &RoomKey, peer: &str) {
        if let Some(p) = self.rooms.get_mut(key).and_then(|r| r.peers.get_mut(peer)) {
            p.claimed = true;
        }
    }

    pub(super) fn join(&mut self, now: Instant, key: RoomKey, peer: &str, speaker: bool) {
        self.leave(&key, peer);
        let recv = self.create_transport(now, &key, peer, false);
        let send = speaker.then(|| self.create_transport(now, &key, peer, true));
        let recv_options = self.transport_options(recv);
        let send_options = send.map(|s| self.transport_options(s));
        self.rooms.entry(key.clone()).or_default().peers.insert(
            peer.to_owned(),
            Peer {
                speaker,
                send,
                recv: Some(recv),
                claimed: false,
                expired: false,
                producers: Vec::new(),
                data_producers: Vec::new(),
                consumers: Vec::new(),
                data_consumers: Vec::new(),
                recv_caps: None,
            },
        );
        self.unclaimed.push_back((now + self.config.unconnected_timeout, recv));
        // `MediaMessage::YouJoinedAs*`, written as text around the router's capabilities,
        // serialised once per core: every group change sends one of these, and a JSON tree of
        // the capabilities per join cost more than everything else a join does.
        let topic = if send.is_some() {
            "you-joined-as-speaker"
        } else {
            "you-joined-as-peer"
        };
        let send_part = send_options
            .map(|s| format!(r#","sendTransportOptions":{s}"#))
            .unwrap_or_default();
        let text = format!(
            r#"{{"topic":"{topic}","d":{{"roomId":{},"peerId":{},"routerRtpCapabilities":{},"recvTransportOptions":{recv_options}{send_part}}}}}"#,
            Value::from(key.1.as_str()),
            Value::from(peer),
            self.router_capabilities,
        );
        self.tell_text(key.0, peer, text);
    }

    /// Drops the transports of peers that have said nothing about their room for
    /// [`SfuConfig::unconnected_timeout`] (they stay members, and are joined again if they
    /// speak up).
    pub(super) fn expire_unclaimed(&mut self, now: Instant) {
        while let Some(&(at, recv)) = self.unclaimed.front() {
            if at > now {
                break;
            }
            self.unclaimed.pop_front();
            let Some(t) = self.transports.get(recv) else { continue };
            let (room, peer) = (t.room.clone(), t.peer.clone());
            let Some(p) = self.rooms.get_mut(&room).and_then(|r| r.peers.get_mut(&peer)) else {
                continue;
            };
            if p.claimed || p.recv != Some(recv) {
                continue;
            }
            let gone: Vec<TransportKey> = [p.send.take(), p.recv.take()].into_iter().flatten().collect();
            p.expired = true;
            for k in gone {
                self.close_transport(k);
                self.traffic.transports_expired += 1;
            }
        }
    }

    pub(super) fn add_speaker(&mut self, now: Instant, key: RoomKey, peer: &str) {
        let (old, expired) = match self.rooms.get(&key).and_then(|r| r.peers.get(peer)) {
            Some(p) => (p.send, p.expired),
            None => return,
        };
        if expired {
            // It has no transports: a fresh join as a speaker gives it both.
            self.join(now, key, peer, true);
            return;
        }
        if let Some(old) = old {
            self.close_transport(old);
        }
        let send = self.create_transport(now, &key, peer, true);
        let options = self.transport_options(send);
        if let Some(p) = self.rooms.get_mut(&key).and_then(|r| r.peers.get_mut(peer)) {
            p.send = Some(send);
            p.speaker = true;
        }
        self.tell(
            key.0,
            peer,
            MediaMessage::YouAreNowASpeaker {
                d: MediaPayload::of(json!({"sendTransportOptions": options, "roomId": key.1, "peerId": peer})),
            },
        );
    }

    /// Takes every peer out of a room, and the room away.
    pub(super) fn destroy_room(&mut self, key: &RoomKey) {
        let peers: Vec<String> = self
            .rooms
            .get(key)
            .map(|r| r.peers.keys().cloned().collect())
            .unwrap_or_default();
        for p in peers {
            self.leave(key, &p);
        }
        self.rooms.remove(key);
    }

    /// Takes a peer out of a room and frees everything it had there.
    pub(super) fn leave(&mut self, key: &RoomKey, peer: &str) {
        let Some(p) = self.rooms.get_mut(key).and_then(|r| r.peers.remove(peer)) else {
            return;
        };
        for id in &p.producers {
            self.close_producer(id);
        }
        for id in &p.data_producers {
            self.close_data_producer(id);
        }
        for c in &p.consumers {
            self.close_consumer(*c);
        }
        for id in &p.data_consumers {
            self.close_data_consumer(id);
        }
        for t in [p.send, p.recv].into_iter().flatten() {
            self.close_transport(t);
        }
        if self.rooms.get(key).is_some_and(|r| r.peers.is_empty()) {
            self.rooms.remove(key);
        }
    }

    pub(super) fn close_producer(&mut self, id: &str) {
        let Some(p) = self.producers.remove(id) else { return };
        for c in &p.consumers {
            self.close_consumer(*c);
        }
        if let Some(t) = self.transports.get_mut(p.transport) {
            t.producers_by_ssrc.remove(&p.ssrc);
            if let Some(rtc) = t.rtc.as_mut() {
                rtc.direct_api().remove_stream_rx(p.ssrc.into());
            }
        }
        if let Some(m) = self.rooms.get_mut(&p.room).and_then(|r| r.peers.get_mut(&p.peer)) {
            m.producers.retain(|x| x != id);
        }
        if p.voice.speaking {
            self.announce_speaking(&p.room, &p.peer, false);
        }
    }

    pub(super) fn close_consumer(&mut self, ck: ConsumerKey) {
        let Some(c) = self.consumers.remove(ck) else { return };
        if let Some(t) = self.transports.get_mut(c.transport) {
            t.consumers_by_mid.remove(&c.mid);
            if let Some(rtc) = t.rtc.as_mut() {
                rtc.direct_api().remove_media(c.mid.as_str().into());
                self.mark(c.transport);
            }
        }
        if let Some(p) = self.producers.get_mut(&c.producer) {
            p.consumers.retain(|x| *x != ck);
        }
        let room = self.transports.get(c.transport).map(|t| t.room.clone());
        if let Some(m) = room
            .and_then(|r| self.rooms.get_mut(&r))
            .and_then(|r| r.peers.get_mut(&c.peer))
        {
            m.consumers.retain(|x| *x != ck);
        }
    }

    pub(super) fn close_data_producer(&mut self, id: &str) {
        let Some(dp) = self.data_producers.remove(id) else {
            return;
        };
        for c in &dp.consumers {
            self.close_data_consumer(c);
        }
        if let Some(t) = self.transports.get_mut(dp.transport) {
            t.data_producers_by_stream.remove(&dp.stream);
            if let Some(rtc) = t.rtc.as_mut()
                && let Some(cid) = rtc.direct_api().channel_id_by_sctp_stream_id(dp.stream)
            {
                rtc.direct_api().close_data_channel(cid);
            }
        }
        if let Some(m) = self.rooms.get_mut(&dp.room).and_then(|r| r.peers.get_mut(&dp.peer)) {
            m.data_producers.retain(|x| x != id);
        }
    }

    pub(super) fn close_data_consumer(&mut self, id: &str) {
        let Some(c) = self.data_consumers.remove(id) else {
            return;
        };
        if let Some(rtc) = self.transports.get_mut(c.transport).and_then(|t| t.rtc.as_mut())
            && let Some(cid) = rtc.direct_api().channel_id_by_sctp_stream_id(c.stream)
        {
            rtc.direct_api().close_data_channel(cid);
        }
        if let Some(dp) = self.data_producers.get_mut(&c.data_producer) {
            dp.consumers.retain(|x| x != id);
        }
        let room = self.transports.get(c.transport).map(|t| t.room.clone());
        if let Some(m) = room
            .and_then(|r| self.rooms.get_mut(&r))
            .and_then(|r| r.peers.get_mut(&c.peer))
        {
            m.data_consumers.retain(|x| x != id);
        }
    }
}
