//! Fuzzes the Tiled map reader: any map text a world creator uploads must parse or fail
//! with a `MapError`, never panic or allocate without bound.
#![no_main]

use crowdwire_world::map::WorldMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(map) = WorldMap::parse(text) {
            let _ = map.is_wall(map.width_px() / 2.0, map.height_px() / 2.0);
            let _ = map.conference_at(1.0, 1.0);
        }
    }
});
