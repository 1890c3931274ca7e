//! The generator's copy of the server's interest rule (`crates/crowdwire-world/src/interest.rs`):
//! the map is cut into cells, and a move reaches every user in the 3×3 cells around the
//! mover's cell except the mover. The generator places each bot at the position it last sent,
//! so it knows how many deliveries each move should produce.

use std::collections::HashMap;

/// A cell coordinate.
pub type Cell = (i64, i64);

/// Bots per cell in one world.
#[derive(Debug)]
pub struct Grid {
    cell_w: f64,
    cell_h: f64,
    counts: HashMap<Cell, u32>,
    cell_of: HashMap<u32, Cell>,
}

impl Grid {
    /// A grid of `cell_w` × `cell_h` px cells.
    pub fn new(cell_w: f64, cell_h: f64) -> Grid {
        Grid {
            cell_w: cell_w.max(1.0),
            cell_h: cell_h.max(1.0),
            counts: HashMap::new(),
            cell_of: HashMap::new(),
        }
    }

    /// The cell of a point (the server's formula).
    pub fn cell(&self, x: f64, y: f64) -> Cell {
        ((x / self.cell_w).floor() as i64, (y / self.cell_h).floor() as i64)
    }

    /// Places or moves `bot` at `(x, y)`.
    pub fn place(&mut self, bot: u32, x: f64, y: f64) -> Cell {
        let c = self.cell(x, y);
        if let Some(old) = self.cell_of.insert(bot, c) {
            if old == c {
                return c;
            }
            self.leave(old);
        }
        *self.counts.entry(c).or_default() += 1;
        c
    }

    fn leave(&mut self, c: Cell) {
        if let Some(n) = self.counts.get_mut(&c) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&c);
            }
        }
    }

    /// Takes `bot` off the grid.
    pub fn remove(&mut self, bot: u32) {
        if let Some(c) = self.cell_of.remove(&bot) {
            self.leave(c);
        }
    }

    /// Bots in the 3×3 cells around `c` (including any at `c`).
    pub fn around(&self, c: Cell) -> u64 {
        let mut n = 0u64;
        for dx in -1..=1 {
            for dy in -1..=1 {
                n += u64::from(self.counts.get(&(c.0 + dx, c.1 + dy)).copied().unwrap_or(0));
            }
        }
        n
    }

    /// Moves `bot` to `(x, y)` and returns how many other bots should hear of it.
    pub fn move_and_count(&mut self, bot: u32, x: f64, y: f64) -> u64 {
        let c = self.place(bot, x, y);
        self.around(c).saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_are_the_3x3_block_without_the_mover() {
        let mut g = Grid::new(960.0, 540.0);
        g.place(1, 100.0, 100.0);
        g.place(2, 1500.0, 900.0); // cell (1, 1): next to (0, 0)
        g.place(3, 3000.0, 100.0); // cell (3, 0): too far
        assert_eq!(g.move_and_count(1, 120.0, 100.0), 1);
        assert_eq!(g.move_and_count(3, 2000.0, 100.0), 1); // cell (2, 0) sees (1, 1), not (0, 0)
        g.remove(2);
        assert_eq!(g.move_and_count(1, 120.0, 110.0), 0);
    }
}
