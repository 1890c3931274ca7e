//! Interest management: who hears about whose moves.
//!
//! A user's area of interest is a rectangle the size of a viewport (by default 1920×1080 px)
//! centred on it: a move reaches exactly the users whose rectangle contains the mover. The
//! rule is symmetric (A sees B when B sees A), so the receivers of a move are the users
//! within half the area's width and height of the mover.
//!
//! To find them without looking at everyone, the map is cut into cells of half the area
//! (960×540 px by default): everyone a user can see stands in the 3×3 block of cells around
//! it, so a move looks at those cells only and checks the exact rectangle.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use crate::protocol::Position;

/// A cell coordinate.
pub type Cell = (i64, i64);

/// Who a move reaches, and who the mover must now hear about.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sight {
    /// Everyone (but the mover) whose area of interest contains the mover's new position.
    pub receivers: Vec<u32>,
    /// Those of `receivers` the mover did not see from its previous position (or everyone,
    /// when it had none): they learn each other's positions now.
    pub entered: Vec<u32>,
}

/// The grid and who is where.
#[derive(Debug)]
pub struct InterestGrid {
    half_w: f64,
    half_h: f64,
    cells: FxHashMap<Cell, BTreeSet<u32>>,
    at: FxHashMap<u32, (Cell, Position)>,
}

impl InterestGrid {
    /// A grid for areas of interest of `area_w` × `area_h` px.
    pub fn new(area_w: f64, area_h: f64) -> InterestGrid {
        InterestGrid {
            half_w: (area_w / 2.0).max(1.0),
            half_h: (area_h / 2.0).max(1.0),
            cells: FxHashMap::default(),
            at: FxHashMap::default(),
        }
    }

    /// The cell of a point.
    pub fn cell(&self, p: &Position) -> Cell {
        ((p.x / self.half_w).floor() as i64, (p.y / self.half_h).floor() as i64)
    }

    /// True when a user at `a` sees a user at `b` (and so `b` sees `a`).
    pub fn sees(&self, a: &Position, b: &Position) -> bool {
        (a.x - b.x).abs() <= self.half_w && (a.y - b.y).abs() <= self.half_h
    }

    /// Places or moves `m` to `p`, and says who hears of it (see [`Sight`]).
    pub fn place(&mut self, m: u32, p: Position) -> Sight {
        let c = self.cell(&p);
        let old = self.at.insert(m, (c, p));
        match old {
            Some((oc, _)) if oc == c => {}
            Some((oc, _)) => {
                self.leave_cell(m, oc);
                self.cells.entry(c).or_default().insert(m);
            }
            None => {
                self.cells.entry(c).or_default().insert(m);
            }
        }
        let before = old.map(|(_, q)| q);
        let mut sight = Sight::default();
        for (other, q) in self.around(c) {
            if other == m || !self.sees(&p, &q) {
                continue;
            }
            sight.receivers.push(other);
            if !before.is_some_and(|b| self.sees(&b, &q)) {
                sight.entered.push(other);
            }
        }
        sight
    }

    /// Everyone (including `m`) who sees the position `m` is at.
    pub fn viewers(&self, m: u32) -> Vec<u32> {
        let Some(&(c, p)) = self.at.get(&m) else {
            return Vec::new();
        };
        self.around(c)
            .filter(|(_, q)| self.sees(&p, q))
            .map(|(o, _)| o)
            .collect()
    }

    fn around(&self, c: Cell) -> impl Iterator<Item = (u32, Position)> + '_ {
        (-1..=1)
            .flat_map(move |dx| (-1..=1).map(move |dy| (c.0 + dx, c.1 + dy)))
            .flat_map(move |k| self.cells.get(&k).into_iter().flatten())
            .map(|o| (*o, self.at[o].1))
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
        if let Some((c, _)) = self.at.remove(&m) {
            self.leave_cell(m, c);
        }
    }

    /// How many users are placed.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// True when nobody is placed.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64, y: f64) -> Position {
        Position { x, y }
    }

    #[test]
    fn a_move_reaches_the_users_whose_viewport_contains_the_mover() {
        let mut g = InterestGrid::new(1920.0, 1080.0);
        g.place(1, at(1000.0, 1000.0));
        g.place(2, at(1950.0, 1530.0)); // 950 × 530 px away: inside the view
        g.place(3, at(1000.0, 1560.0)); // 560 px below: outside (half height 540)
        g.place(4, at(5000.0, 1000.0));
        let s = g.place(1, at(1000.0, 1010.0));
        assert_eq!(s.receivers, vec![2]);
        assert!(s.entered.is_empty(), "2 was already in view");
        // Two steps down, 3 comes into view; 2 stays in it.
        let s = g.place(1, at(1000.0, 1030.0));
        let mut r = s.receivers.clone();
        r.sort();
        assert_eq!(r, vec![2, 3]);
        assert_eq!(s.entered, vec![3]);
        let mut v = g.viewers(3);
        v.sort();
        assert_eq!(v, vec![1, 2, 3], "3 itself, 1, and 2 (950 px to its right)");
    }

    #[test]
    fn the_exact_rectangle_decides_not_the_cells() {
        // Cells of 960 × 540; 2 is in a neighbouring cell but beyond the half width.
        let mut g = InterestGrid::new(1920.0, 1080.0);
        g.place(2, at(1900.0, 100.0));
        let s = g.place(1, at(10.0, 100.0));
        assert!(s.receivers.is_empty());
        g.remove(2);
        assert_eq!(g.len(), 1);
        assert!(g.viewers(1) == vec![1]);
    }
}
