//! The seeded random source behind every generator in this crate.
//!
//! A thin wrapper over `rand`'s `StdRng` so the generators say what they want ("one of
//! these", "true 20% of the time") and a `rand` upgrade touches this file only. It is not
//! a general random API: it has exactly the draws the generators use. Its callers are
//! `person.rs`, `appointment.rs` and the format writers under `shape/`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A deterministic random source: the same seed gives the same draws on every run.
#[derive(Debug, Clone)]
pub(crate) struct Dice {
    rng: StdRng,
}

impl Dice {
    /// A source seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Dice {
        Dice {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A number in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u32, hi: u32) -> u32 {
        self.rng.gen_range(lo..=hi)
    }

    /// An index in `0..len`; `len` must not be zero.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.rng.gen_range(0..len)
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    /// A copy of one element of a non-empty slice.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// Appends `n` random decimal digits to `out`.
    pub(crate) fn push_digits(&mut self, n: usize, out: &mut String) {
        for _ in 0..n {
            out.push(char::from(b'0' + self.rng.gen_range(0..10u8)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws() {
        let mut a = Dice::new(7);
        let mut b = Dice::new(7);
        let xs: Vec<u32> = (0..32).map(|_| a.range(0, 1_000_000)).collect();
        let ys: Vec<u32> = (0..32).map(|_| b.range(0, 1_000_000)).collect();
        assert_eq!(xs, ys);
    }
}
