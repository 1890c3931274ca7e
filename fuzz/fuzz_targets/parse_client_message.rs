//! Fuzzes the WebSocket frame parser: any bytes a client may send must parse into a message
//! or a `ParseError`, never panic.
#![no_main]

use crowdwire_world::protocol::ClientMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ClientMessage::parse(text).map(|m| m.topic().len());
    }
});
