//! Interest management: who hears about whose moves.
//!
//! The map is cut into cells (by default half a 1920×1080 viewport, 960×540 px). A user's
//! area of interest is the 3×3 block of cells around its own cell, which always covers a
//! full viewport centred on it. Movement reaches only the users whose area contains the
//! mover; the relation is symmetric, so the receivers are the users in the 3×3 cells around
//! the mover's cell.

use std::collections::{BTreeSet, HashMap};

use crate::protocol::Position;

/// A cell coordinate.
pub type Cell = (i64, i64);

/// The grid and who is in each cell.
#[derive(Debug)]
pub struct InterestGrid {
    cell_w: f64,
    cell_h: f64,
    cells: HashMap<Cell, BTreeSet<u32>>,
    cell_of: HashMap<u32, Cell>,
}

impl InterestGrid {
    /// A grid with cells of `cell_w` × `cell_h` px.
    pub fn new(cell_w: f64, cell_h: f64) -> InterestGrid {
        InterestGrid {
            cell_w: cell_w.max(1.0),
            cell_h: cell_h.max(1.0),
            cells: HashMap::new(),
            cell_of: HashMap::new(),
        }
    }

    /// The cell of a point.
    pub fn cell(&self, p: &Position) -> Cell {
        ((p.x / self.cell_w).floor() as i64, (p.y / self.cell_h).floor() as i64)
    }

    /// Places or moves `m`. Returns `Some((old, new))` when it changed cells.
    pub fn place(&mut self, m: u32, p: &Position) -> Option<(Option<Cell>, Cell)> {
        let c = self.cell(p);
        let old = self.cell_of.insert(m, c);
        if old == Some(c) {
            return None;
        }
        if let Some(o) = old {
            self.leave_cell(m, o);
        }
        self.cells.entry(c).or_default().insert(m);
        Some((old, c))
    }

    fn leave_cell(&mut self, m: u32, c: Cell) {
        if let Some(set) = self.cells.get_mut(&c) {
            set.remove(&m);
            if set.is_empty() {
                self.cells.remove(&c);
            }
        }
    }

    /// Takes `m` off the grid.
    pub fn remove(&mut self, m: u32) {
        if let Some(c) = self.cell_of.remove(&m) {
            self.leave_cell(m, c);
        }
    }

    /// The cell `m` is in.
    pub fn cell_of(&self, m: u32) -> Option<Cell> {
        self.cell_of.get(&m).copied()
    }

    /// Everyone in the 3×3 block around `c` (including whoever is at `c`).
    pub fn around(&self, c: Cell) -> impl Iterator<Item = u32> + '_ {
        (-1..=1)
            .flat_map(move |dx| (-1..=1).map(move |dy| (c.0 + dx, c.1 + dy)))
            .flat_map(move |k| self.cells.get(&k).into_iter().flatten().copied())
    }

    /// True when a user in cell `a` sees a user in cell `b`.
    pub fn sees(a: Cell, b: Cell) -> bool {
        (a.0 - b.0).abs() <= 1 && (a.1 - b.1).abs() <= 1
    }

    /// Users that see cell `new` but did not see cell `old` (they must learn the mover's
    /// position now), and users that saw `old` but not `new`.
    pub fn entered_and_left(&self, old: Option<Cell>, new: Cell) -> (Vec<u32>, Vec<u32>) {
        let entered = self
            .around(new)
            .filter(|m| match old {
                None => true,
                Some(o) => self.cell_of.get(m).is_some_and(|mc| !Self::sees(o, *mc)),
            })
            .collect();
        let left = match old {
            Some(o) => self
                .around(o)
                .filter(|m| self.cell_of.get(m).is_some_and(|mc| !Self::sees(new, *mc)))
                .collect(),
            None => Vec::new(),
        };
        (entered, left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_are_the_3x3_block() {
        let mut g = InterestGrid::new(960.0, 540.0);
        g.place(1, &Position { x: 100.0, y: 100.0 });
        g.place(2, &Position { x: 1500.0, y: 900.0 });
        g.place(3, &Position { x: 3000.0, y: 100.0 });
        let c = g.cell_of(1).unwrap();
        let mut r: Vec<u32> = g.around(c).collect();
        r.sort();
        assert_eq!(r, vec![1, 2]);
        // Moving 3 next to 1 makes them see each other.
        let (old, new) = g.place(3, &Position { x: 900.0, y: 100.0 }).unwrap();
        let (entered, _) = g.entered_and_left(old, new);
        assert!(entered.contains(&1) && entered.contains(&2));
    }
}
