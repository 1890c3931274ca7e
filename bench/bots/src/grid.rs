//! The generator's copy of the server's interest rule (`crates/crowdwire-world/src/interest.rs`):
//! a move reaches every other user within half the area of interest (a viewport, 1920×1080 px
//! by default) on each axis. Candidates are found through cells of half the area, as the
//! server does. The generator places each bot at the position it last sent, so it knows how
//! many deliveries each move should produce.

use std::collections::BTreeSet;

use foldhash::HashMap;

/// A cell coordinate.
pub type Cell = (i64, i64);

/// Where the bots of one world are.
#[derive(Debug)]
pub struct Grid {
    half_w: f64,
    half_h: f64,
    cells: HashMap<Cell, BTreeSet<u32>>,
    at: HashMap<u32, (Cell, f64, f64)>,
}

impl Grid {
    /// A grid for areas of interest of `area_w` × `area_h` px.
    pub fn new(area_w: f64, area_h: f64) -> Grid {
        Grid {
            half_w: (area_w / 2.0).max(1.0),
            half_h: (area_h / 2.0).max(1.0),
            cells: HashMap::default(),
            at: HashMap::default(),
        }
    }

    fn cell(&self, x: f64, y: f64) -> Cell {
        ((x / self.half_w).floor() as i64, (y / self.half_h).floor() as i64)
    }

    /// Places or moves `bot` at `(x, y)`.
    pub fn place(&mut self, bot: u32, x: f64, y: f64) -> Cell {
        let c = self.cell(x, y);
        if let Some((old, _, _)) = self.at.insert(bot, (c, x, y)) {
            if old == c {
                return c;
            }
            self.leave(bot, old);
        }
        self.cells.entry(c).or_default().insert(bot);
        c
    }

    fn leave(&mut self, bot: u32, c: Cell) {
        if let Some(set) = self.cells.get_mut(&c) {
            set.remove(&bot);
            if set.is_empty() {
                self.cells.remove(&c);
            }
        }
    }

    /// Takes `bot` off the grid.
    pub fn remove(&mut self, bot: u32) {
        if let Some((c, _, _)) = self.at.remove(&bot) {
            self.leave(bot, c);
        }
    }

    /// Moves `bot` to `(x, y)` and returns how many other bots should hear of it.
    pub fn move_and_count(&mut self, bot: u32, x: f64, y: f64) -> u64 {
        let c = self.place(bot, x, y);
        let mut n = 0;
        for dx in -1..=1 {
            for dy in -1..=1 {
                for other in self.cells.get(&(c.0 + dx, c.1 + dy)).into_iter().flatten() {
                    let (_, ox, oy) = self.at[other];
                    if *other != bot && (ox - x).abs() <= self.half_w && (oy - y).abs() <= self.half_h {
                        n += 1;
                    }
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_are_the_others_within_the_viewport() {
        let mut g = Grid::new(1920.0, 1080.0);
        g.place(1, 100.0, 100.0);
        g.place(2, 1000.0, 600.0); // 900 × 500 px away: in view
        g.place(3, 1900.0, 100.0); // 1,800 px away: out of view, though in a neighbouring cell
        assert_eq!(g.move_and_count(1, 120.0, 100.0), 1);
        assert_eq!(g.move_and_count(3, 1500.0, 100.0), 1); // now sees 2 (500 px), not 1 (1,380 px)
        g.remove(2);
        assert_eq!(g.move_and_count(1, 120.0, 110.0), 0);
    }
}
