//! What the server needs from a world's Tiled map: its size, where the walls are (for the
//! position sanity check) and where the conference areas are (docs/protocol.md, "Conferences").
//!
//! Walls are the non-empty tiles of every tile layer whose name contains `Collision`.
//! Conference areas are the tiles of the `__Conference` layer whose tileset tile carries a
//! `conference` property (`C<n>`); their display name is the tileset's `name` property.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

const FLIP_FLAGS: u32 = 0xE000_0000;

/// A conference area.
#[derive(Clone, Debug, PartialEq)]
pub struct ConferenceArea {
    /// The map's id, `C<n>`.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Tiles it covers, as (column, row).
    pub tiles: Vec<(u32, u32)>,
}

/// The parsed map.
#[derive(Clone, Debug)]
pub struct WorldMap {
    /// Width in tiles.
    pub width: u32,
    /// Height in tiles.
    pub height: u32,
    /// Tile width, px.
    pub tile_width: u32,
    /// Tile height, px.
    pub tile_height: u32,
    walls: Vec<bool>,
    /// Tiles a walker starting at the spawn point can reach (all of them when the spawn tile
    /// is a wall or off the map: such a map sets its spawn points by other means).
    reachable: Vec<bool>,
    conference_of_tile: Vec<Option<u16>>,
    /// Conference areas, by key.
    pub conferences: Vec<ConferenceArea>,
    /// A fingerprint of the map's text (FNV-1a), so a reload can tell whether the map changed
    /// at all, decoration included; 0 for a generated map.
    pub fingerprint: u64,
}

/// Where a player's body centre is when standing at the default spawn point (50, 50) (the
/// body is 26 × 10 px, offset so its centre is 1 px left of and 15 px below the position).
pub const SPAWN_BODY_CENTRE: (f64, f64) = (49.0, 65.0);

/// The tiles reachable from `start` through tiles that are not walls (8-neighbour, as a body
/// may slip past corners); all tiles when `start` is a wall.
fn reachable_from(walls: &[bool], width: u32, height: u32, start: Option<usize>) -> Vec<bool> {
    let Some(start) = start.filter(|&i| !walls[i]) else {
        return vec![true; walls.len()];
    };
    let (w, h) = (i64::from(width), i64::from(height));
    let mut seen = vec![false; walls.len()];
    seen[start] = true;
    let mut todo = vec![start];
    while let Some(i) = todo.pop() {
        let (c, r) = (i as i64 % w, i as i64 / w);
        for (dc, dr) in [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
            let (nc, nr) = (c + dc, r + dr);
            if nc < 0 || nr < 0 || nc >= w || nr >= h {
                continue;
            }
            let j = (nr * w + nc) as usize;
            if !walls[j] && !seen[j] {
                seen[j] = true;
                todo.push(j);
            }
        }
    }
    seen
}

/// FNV-1a over `bytes`: stable across processes and versions, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Why a map could not be used.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid map: {0}")]
pub struct MapError(pub String);

#[derive(Deserialize)]
struct RawMap {
    width: u32,
    height: u32,
    #[serde(default = "default_tile")]
    tilewidth: u32,
    #[serde(default = "default_tile")]
    tileheight: u32,
    #[serde(default)]
    layers: Vec<Value>,
    #[serde(default)]
    tilesets: Vec<RawTileset>,
}

fn default_tile() -> u32 {
    32
}

#[derive(Deserialize)]
struct RawTileset {
    #[serde(default)]
    firstgid: u32,
    #[serde(default)]
    tiles: Vec<RawTile>,
    #[serde(default)]
    properties: Vec<RawProperty>,
}

#[derive(Deserialize)]
struct RawTile {
    id: u32,
    #[serde(default)]
    properties: Vec<RawProperty>,
}

#[derive(Deserialize)]
struct RawProperty {
    name: String,
    #[serde(default)]
    value: Value,
}

fn property<'a>(props: &'a [RawProperty], name: &str) -> Option<&'a str> {
    props.iter().find(|p| p.name == name).and_then(|p| p.value.as_str())
}

/// Largest map accepted, in tiles (a 1,000 × 1,000 map is 32,000 px square).
const MAX_TILES: u64 = 1_000_000;

/// Most layers a map may have, counting those inside groups (Tiled maps in use have tens).
pub const MAX_LAYERS: usize = 256;

/// Most tile data decoded from one map's collision and conference layers (base64 and
/// zlib/gzip), bytes: sixteen such layers of the largest map. Without a total, a map of many
/// small compressed layers would inflate to gigabytes.
pub const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;

/// Decodes a tile layer's `data` (array, or base64 with optional zlib/gzip compression).
fn layer_data(layer: &Value, expected: usize) -> Result<Vec<u32>, MapError> {
    let data = layer
        .get("data")
        .ok_or_else(|| MapError("tile layer without data".into()))?;
    let gids: Vec<u32> = match data {
        Value::Array(items) => items.iter().map(|v| v.as_u64().unwrap_or(0) as u32).collect(),
        Value::String(s) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| MapError(format!("layer data is not base64: {e}")))?;
            let raw = match layer.get("compression").and_then(|c| c.as_str()).unwrap_or("") {
                "" => bytes,
                "zlib" => inflate(flate2::read::ZlibDecoder::new(&bytes[..]), expected)?,
                "gzip" => inflate(flate2::read::GzDecoder::new(&bytes[..]), expected)?,
                other => return Err(MapError(format!("unsupported layer compression {other:?}"))),
            };
            raw.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        _ => return Err(MapError("layer data must be an array or a base64 string".into())),
    };
    if gids.len() != expected {
        return Err(MapError(format!(
            "layer data has {} tiles, expected {expected}",
            gids.len()
        )));
    }
    Ok(gids)
}

fn inflate(reader: impl std::io::Read, expected: usize) -> Result<Vec<u8>, MapError> {
    use std::io::Read;
    let mut out = Vec::with_capacity(expected * 4);
    // Bounded read: a hostile map cannot inflate past the layer's real size.
    reader
        .take((expected as u64) * 4 + 1)
        .read_to_end(&mut out)
        .map_err(|e| MapError(format!("bad compressed data: {e}")))?;
    Ok(out)
}

/// Conference tiles: gid -> conference key, and each key's display name.
fn conference_tiles(tilesets: &[RawTileset]) -> (BTreeMap<u32, String>, BTreeMap<String, String>) {
    let mut conference_gids: BTreeMap<u32, String> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for ts in tilesets {
        for t in &ts.tiles {
            if let Some(key) = property(&t.properties, "conference") {
                conference_gids.insert(ts.firstgid + t.id, key.to_owned());
                let name = property(&ts.properties, "name").unwrap_or(key).to_owned();
                names.entry(key.to_owned()).or_insert(name);
            }
        }
    }
    (conference_gids, names)
}

/// The layers the server reads, with whether each is a wall and a conference layer, found
/// before any is decoded, so a map whose total would exceed the budget costs nothing but
/// this walk. Tiled nests layers in groups.
fn wanted_layers(top: &[Value]) -> Result<Vec<(&Value, bool, bool)>, MapError> {
    let mut layers: Vec<&Value> = top.iter().collect();
    let mut seen = layers.len();
    let mut wanted: Vec<(&Value, bool, bool)> = Vec::new();
    while let Some(layer) = layers.pop() {
        if seen > MAX_LAYERS {
            return Err(MapError(format!("map has more than {MAX_LAYERS} layers")));
        }
        let kind = layer.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let name = layer.get("name").and_then(|t| t.as_str()).unwrap_or("");
        if kind == "group" {
            if let Some(children) = layer.get("layers").and_then(|l| l.as_array()) {
                seen += children.len();
                layers.extend(children.iter());
            }
            continue;
        }
        if kind != "tilelayer" || layer.get("chunks").is_some() {
            continue;
        }
        let is_wall = name.contains("Collision");
        let is_conference = name == "__Conference";
        if is_wall || is_conference {
            wanted.push((layer, is_wall, is_conference));
        }
    }
    Ok(wanted)
}

impl WorldMap {
    /// Parses a Tiled JSON map.
    pub fn parse(json: &str) -> Result<WorldMap, MapError> {
        // (serde would also read a struct from an array of its fields.)
        if !json.trim_start().starts_with('{') {
            return Err(MapError("a Tiled map is a JSON object".into()));
        }
        let raw: RawMap = serde_json::from_str(json).map_err(|e| MapError(e.to_string()))?;
        if raw.width == 0 || raw.height == 0 || raw.tilewidth == 0 || raw.tileheight == 0 {
            return Err(MapError("map and tile sizes must be positive".into()));
        }
        if u64::from(raw.width) * u64::from(raw.height) > MAX_TILES {
            return Err(MapError(format!("map larger than {MAX_TILES} tiles")));
        }
        let n = (raw.width * raw.height) as usize;
        let (conference_gids, names) = conference_tiles(&raw.tilesets);
        let mut walls = vec![false; n];
        let mut tiles_of: BTreeMap<String, Vec<(u32, u32)>> = BTreeMap::new();
        let wanted = wanted_layers(&raw.layers)?;
        if wanted.len().saturating_mul(n * 4) > MAX_DECODED_BYTES {
            return Err(MapError(format!(
                "the map's collision and conference layers hold more than {} MiB of tiles",
                MAX_DECODED_BYTES / (1024 * 1024)
            )));
        }
        for (layer, is_wall, is_conference) in wanted {
            let gids = layer_data(layer, n)?;
            for (i, gid) in gids.into_iter().enumerate() {
                let gid = gid & !FLIP_FLAGS;
                if gid == 0 {
                    continue;
                }
                if is_wall {
                    walls[i] = true;
                }
                if is_conference && let Some(key) = conference_gids.get(&gid) {
                    tiles_of
                        .entry(key.clone())
                        .or_default()
                        .push((i as u32 % raw.width, i as u32 / raw.width));
                }
            }
        }
        let mut conference_of_tile = vec![None; n];
        let mut conferences = Vec::new();
        for (idx, (key, tiles)) in tiles_of.into_iter().enumerate() {
            for &(c, r) in &tiles {
                conference_of_tile[(r * raw.width + c) as usize] = Some(idx as u16);
            }
            let name = names.get(&key).cloned().unwrap_or_else(|| key.clone());
            conferences.push(ConferenceArea { key, name, tiles });
        }
        let spawn_tile = {
            let (x, y) = SPAWN_BODY_CENTRE;
            let (c, r) = (
                (x / f64::from(raw.tilewidth)) as u32,
                (y / f64::from(raw.tileheight)) as u32,
            );
            (c < raw.width && r < raw.height).then_some((r * raw.width + c) as usize)
        };
        let reachable = reachable_from(&walls, raw.width, raw.height, spawn_tile);
        Ok(WorldMap {
            width: raw.width,
            height: raw.height,
            tile_width: raw.tilewidth,
            tile_height: raw.tileheight,
            walls,
            reachable,
            conference_of_tile,
            conferences,
            fingerprint: fnv1a(json.as_bytes()),
        })
    }

    /// A map with no walls and no conferences (used when a world's map cannot be parsed).
    pub fn open_field(width_px: f64, height_px: f64) -> WorldMap {
        let width = (width_px / 32.0).ceil().max(1.0) as u32;
        let height = (height_px / 32.0).ceil().max(1.0) as u32;
        let n = (width * height) as usize;
        WorldMap {
            width,
            height,
            tile_width: 32,
            tile_height: 32,
            walls: vec![false; n],
            reachable: vec![true; n],
            conference_of_tile: vec![None; n],
            conferences: Vec::new(),
            fingerprint: 0,
        }
    }

    /// Width in pixels.
    pub fn width_px(&self) -> f64 {
        f64::from(self.width * self.tile_width)
    }

    /// Height in pixels.
    pub fn height_px(&self) -> f64 {
        f64::from(self.height * self.tile_height)
    }

    /// True when the point is inside the map.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= 0.0 && y >= 0.0 && x < self.width_px() && y < self.height_px()
    }

    fn tile_index(&self, x: f64, y: f64) -> Option<usize> {
        if !self.contains(x, y) {
            return None;
        }
        let c = (x / f64::from(self.tile_width)) as u32;
        let r = (y / f64::from(self.tile_height)) as u32;
        Some((r * self.width + c) as usize)
    }

    /// True when a walker from the spawn point can get to the point (it is on the map, not on
    /// a wall, and not in a room closed off by walls).
    pub fn is_reachable(&self, x: f64, y: f64) -> bool {
        self.tile_index(x, y).is_some_and(|i| self.reachable[i])
    }

    /// True when the point is on a wall tile.
    pub fn is_wall(&self, x: f64, y: f64) -> bool {
        self.tile_index(x, y).is_some_and(|i| self.walls[i])
    }

    /// True when the straight line from `a` to `b` runs through walls for at least `min_run`
    /// pixels in a row (sampled every 4 px). A walk around a corner cuts it by a few pixels;
    /// passing through a wall crosses a whole tile.
    pub fn crosses_wall(&self, a: (f64, f64), b: (f64, f64), min_run: f64) -> bool {
        const STEP: f64 = 4.0;
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = dx.hypot(dy);
        if !len.is_finite() || len < STEP {
            return false;
        }
        let n = (len / STEP).ceil() as u32;
        let mut run = 0.0;
        for i in 0..=n {
            let t = f64::from(i) / f64::from(n);
            if self.is_wall(a.0 + dx * t, a.1 + dy * t) {
                run += len / f64::from(n);
                if run >= min_run {
                    return true;
                }
            } else {
                run = 0.0;
            }
        }
        false
    }

    /// Half the smaller side of a tile: the wall run [`Self::crosses_wall`] treats as going
    /// through.
    pub fn half_tile(&self) -> f64 {
        f64::from(self.tile_width.min(self.tile_height)) / 2.0
    }

    /// The conference area at this point, if any.
    pub fn conference_at(&self, x: f64, y: f64) -> Option<&ConferenceArea> {
        let i = self.tile_index(x, y)?;
        self.conference_of_tile[i].map(|c| &self.conferences[c as usize])
    }

    /// The conference with this key (`C<n>`).
    pub fn conference(&self, key: &str) -> Option<&ConferenceArea> {
        self.conferences.iter().find(|c| c.key == key)
    }

    /// Distance in pixels from a point to the nearest tile of a conference area (0 inside).
    pub fn distance_to_conference(&self, key: &str, x: f64, y: f64) -> Option<f64> {
        let area = self.conference(key)?;
        let (tw, th) = (f64::from(self.tile_width), f64::from(self.tile_height));
        area.tiles
            .iter()
            .map(|&(c, r)| {
                let (x0, y0) = (f64::from(c) * tw, f64::from(r) * th);
                let dx = (x0 - x).max(0.0).max(x - (x0 + tw));
                let dy = (y0 - y).max(0.0).max(y - (y0 + th));
                (dx * dx + dy * dy).sqrt()
            })
            .reduce(f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn small_map() -> String {
        // 4x3 map: a wall at (1,0); conference C1 at (2,1) and (3,1); C2 at (0,2).
        json!({
            "width": 4, "height": 3, "tilewidth": 32, "tileheight": 32,
            "layers": [
                {"type": "tilelayer", "name": "Ground", "data": [1,1,1,1, 1,1,1,1, 1,1,1,1]},
                {"type": "tilelayer", "name": "Collision", "data": [0,5,0,0, 0,0,0,0, 0,0,0,0]},
                {"type": "tilelayer", "name": "__Conference", "data": [0,0,0,0, 0,0,100001,100001, 100002,0,0,0]},
            ],
            "tilesets": [
                {"firstgid": 1, "name": "floor"},
                {"firstgid": 100001, "name": "__CONFERENCE_C1", "properties": [{"name": "name", "type": "string", "value": "Main Stage"}],
                 "tiles": [{"id": 0, "properties": [{"name": "conference", "type": "string", "value": "C1"}]}]},
                {"firstgid": 100002, "name": "__CONFERENCE_C2",
                 "tiles": [{"id": 0, "properties": [{"name": "conference", "type": "string", "value": "C2"}]}]},
            ]
        })
        .to_string()
    }

    #[test]
    fn walls_and_conferences() {
        let m = WorldMap::parse(&small_map()).unwrap();
        assert_eq!((m.width_px(), m.height_px()), (128.0, 96.0));
        assert!(m.is_wall(40.0, 10.0));
        assert!(!m.is_wall(10.0, 10.0));
        assert_eq!(m.conference_at(70.0, 40.0).unwrap().key, "C1");
        assert_eq!(m.conference_at(70.0, 40.0).unwrap().name, "Main Stage");
        assert_eq!(m.conference_at(10.0, 70.0).unwrap().name, "C2");
        assert!(m.conference_at(10.0, 10.0).is_none());
        assert_eq!(m.distance_to_conference("C1", 70.0, 40.0), Some(0.0));
        assert_eq!(m.distance_to_conference("C1", 64.0 - 10.0, 40.0), Some(10.0));
        assert!(m.conference("C9").is_none());
        assert!(!m.contains(-1.0, 5.0) && !m.contains(128.0, 5.0));
    }

    #[test]
    fn base64_and_zlib_layers_decode() {
        use std::io::Write;
        let gids: Vec<u8> = [0u32, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            .iter()
            .flat_map(|g| g.to_le_bytes())
            .collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&gids).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
        let map = json!({"width": 4, "height": 3, "layers": [
            {"type": "tilelayer", "name": "Collision", "encoding": "base64", "compression": "zlib", "data": b64}
        ]});
        let m = WorldMap::parse(&map.to_string()).unwrap();
        assert!(m.is_wall(40.0, 10.0));
    }

    /// Security review F7: a first spawn inside a room closed off by walls was accepted.
    #[test]
    fn a_room_closed_off_by_walls_is_out_of_reach() {
        // 6 × 6 tiles; a ring of wall around the 2 × 2 room at tiles (3..5, 3..5).
        let mut data = vec![0u32; 36];
        for (c, r) in [
            (2, 2),
            (3, 2),
            (4, 2),
            (5, 2),
            (2, 3),
            (5, 3),
            (2, 4),
            (5, 4),
            (2, 5),
            (3, 5),
            (4, 5),
            (5, 5),
        ] {
            data[r * 6 + c] = 1;
        }
        let map = json!({"width": 6, "height": 6, "tilewidth": 32, "tileheight": 32,
                         "layers": [{"type": "tilelayer", "name": "Collision", "data": data}]});
        let m = WorldMap::parse(&map.to_string()).unwrap();
        assert!(m.is_reachable(SPAWN_BODY_CENTRE.0, SPAWN_BODY_CENTRE.1));
        assert!(m.is_reachable(20.0, 180.0), "open floor");
        assert!(!m.is_reachable(3.5 * 32.0, 3.5 * 32.0), "inside the closed room");
        assert!(!m.is_reachable(2.5 * 32.0, 2.5 * 32.0), "a wall");
        assert!(!m.is_reachable(-5.0, 10.0), "off the map");
    }

    /// Security review F4: many compressed layers used to inflate to gigabytes, each within
    /// its own cap. Both the layer count and the total are capped, before anything is decoded.
    #[test]
    fn layer_count_and_decoded_total_are_capped() {
        let layer = json!({"type": "tilelayer", "name": "Ground", "data": [0, 0, 0, 0]});
        let group = json!({"type": "group", "name": "g", "layers": vec![layer.clone(); MAX_LAYERS]});
        let map = json!({"width": 2, "height": 2, "tilewidth": 32, "tileheight": 32, "layers": [group]});
        let e = WorldMap::parse(&map.to_string()).unwrap_err();
        assert!(e.0.contains("layers"), "{e}");
        let ok = json!({"width": 2, "height": 2, "tilewidth": 32, "tileheight": 32, "layers": vec![layer; MAX_LAYERS]});
        assert!(WorldMap::parse(&ok.to_string()).is_ok());
        // 17 collision layers of the largest map: 68 MB of tiles, refused without decoding
        // (the data is not even valid base64).
        let big =
            json!({"type": "tilelayer", "name": "Collision", "encoding": "base64", "compression": "zlib", "data": "!"});
        let map = json!({"width": 1000, "height": 1000, "tilewidth": 32, "tileheight": 32, "layers": vec![big; 17]});
        let e = WorldMap::parse(&map.to_string()).unwrap_err();
        assert!(e.0.contains("MiB"), "{e}");
    }

    #[test]
    fn bad_maps_are_errors() {
        assert!(WorldMap::parse("{}").is_err());
        assert!(WorldMap::parse("[10, 10, 32, 32]").is_err());
        assert!(WorldMap::parse(r#"{"width":0,"height":3}"#).is_err());
        assert!(WorldMap::parse(r#"{"width":100000,"height":100000}"#).is_err());
        assert!(
            WorldMap::parse(r#"{"width":2,"height":2,"layers":[{"type":"tilelayer","name":"Collision","data":[1]}]}"#)
                .is_err()
        );
    }

    #[test]
    fn the_default_map_parses_with_its_conferences() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/static/maps/default.json"
        ))
        .unwrap();
        let m = WorldMap::parse(&text).unwrap();
        assert_eq!(m.width, 64);
        let keys: Vec<&str> = m.conferences.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["C1", "C2", "C3"]);
        assert!(!m.is_wall(50.0, 50.0), "the default spawn point is walkable");
        assert!(m.is_wall(5.0, 5.0), "the border is a wall");
    }
}
