//! Raw capture of header extensions at ids a send transport did not know when it was built.
//!
//! str0m parses header extensions with one map per `Rtc`, fixed when the `Rtc` is built,
//! and its direct API has no setter. A send transport is built at its first produce, with
//! the ids that produce names; a later produce of the other kind can add ids (Chrome gives
//! `ssrc-audio-level` or `video-orientation` a fresh id then). Every id left free at build
//! time gets a [`SpareExtension`], which keeps the raw bytes; the SFU reads them once it
//! knows, from the later produce, which extension each id carries.

use std::sync::Arc;

use str0m::rtp::{Extension, ExtensionMap, ExtensionSerializer, ExtensionValues};

/// Raw bytes of extensions at spare ids, indexed by id − 1.
#[derive(Debug, Clone, Default)]
pub struct SpareValues(pub [Option<u8>; 14]);

/// Stores the first byte of the extension at one id.
#[derive(Debug)]
pub struct SpareExtension(u8);

impl ExtensionSerializer for SpareExtension {
    fn write_to(&self, _buf: &mut [u8], _ev: &ExtensionValues) -> usize {
        // Send transports only receive: nothing is ever written with this map.
        0
    }

    fn parse_value(&self, buf: &[u8], ev: &mut ExtensionValues) -> bool {
        let Some(&b) = buf.first() else { return false };
        let mut v = ev.user_values.get::<SpareValues>().cloned().unwrap_or_default();
        v.0[usize::from(self.0 - 1)] = Some(b);
        ev.user_values.set_arc(Arc::new(v));
        true
    }

    fn is_video(&self) -> bool {
        true
    }

    fn is_audio(&self) -> bool {
        true
    }
}

/// Puts a spare serializer on every free id of `map`.
pub fn fill_spare(map: &mut ExtensionMap) {
    for id in 1..=14u8 {
        if map.lookup(id).is_none() {
            map.set(
                id,
                Extension::with_serializer(&format!("urn:crowdwire:spare:{id}"), SpareExtension(id)),
            );
        }
    }
}

/// Whether the extension at `id` is a spare one.
pub fn is_spare(map: &ExtensionMap, id: u8) -> bool {
    map.lookup(id)
        .is_some_and(|e| e.as_uri().starts_with("urn:crowdwire:spare:"))
}

/// The raw byte a spare id carried in a packet.
pub fn spare_byte(ev: &ExtensionValues, id: u8) -> Option<u8> {
    let idx = usize::from(id.checked_sub(1)?);
    ev.user_values.get::<SpareValues>().and_then(|v| *v.0.get(idx)?)
}
