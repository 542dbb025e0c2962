//! The selector automaton: many selectors compiled into one deterministic table.
//!
//! Each selector is a chain of steps; `..` steps stay active at every depth below. The
//! set of active steps at a node depends only on the set at its parent and on the
//! child's label (a key, or "an array element"), so the sets can be enumerated once,
//! at compile time, by subset construction. Streaming then costs one hash of the key
//! (to find its symbol among the names the selectors mention) and one table lookup per
//! member, whatever the depth and however many selectors there are: no backtracking.
//!
//! Neighbours: `selector.rs` parses selectors; `plan.rs` decides what each accepting
//! state means (a field's operator, a record).

use rustc_hash::FxHashMap;

use crate::error::MaskError;
use crate::selector::{Selector, Test};

/// A state of the automaton.
pub(crate) type StateId = u32;

/// The state below which nothing can match any more.
pub(crate) const DEAD: StateId = 0;
/// The state of the document's root.
pub(crate) const ROOT: StateId = 1;
/// "No rule" in [`StateInfo::rule`].
pub(crate) const NO_RULE: u32 = u32::MAX;
/// The symbol of a key that no selector names.
pub(crate) const OTHER_KEY: u32 = u32::MAX - 1;

/// Upper bound on automaton states; real policies need a few dozen.
const MAX_STATES: usize = 20_000;

/// The first eight bytes of a key (zero-padded) as an integer.
#[inline]
fn prefix(key: &[u8]) -> u64 {
    if let Some(head) = key.first_chunk::<8>() {
        return u64::from_le_bytes(*head);
    }
    key.iter().rev().fold(0, |v, &b| (v << 8) | u64::from(b))
}

/// What a selector leads to when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The field rule with this index.
    Rule(u32),
    /// The node is a record.
    Record,
}

/// What is known about the node a state is reached at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateInfo {
    /// The first rule (lowest index) whose selector matches here, or [`NO_RULE`].
    pub(crate) rule: u32,
    /// A records selector matches here.
    pub(crate) record: bool,
    /// Nothing can match here or below.
    pub(crate) dead: bool,
    /// Some child of this node has a `drop` rule: separators must be held.
    pub(crate) drops_child: bool,
}

/// The compiled automaton.
#[derive(Debug)]
pub(crate) struct Automaton {
    /// The names' symbols grouped by name length, each group sorted by the name's
    /// first eight bytes: a key is compared only with names of its own length, by one
    /// integer compare each (and the rest of the bytes for longer names).
    by_len: Vec<(u64, u32)>,
    /// For each length, the range of `by_len` holding the names of that length.
    len_ranges: Vec<(u32, u32)>,
    names: Vec<Box<str>>,
    width: usize,
    table: Vec<StateId>,
    states: Vec<StateInfo>,
}

/// One NFA position: how far along one selector the match is.
struct Position<'a> {
    selector: &'a Selector,
    step: usize,
    target: Target,
}

impl Automaton {
    /// Compiles selectors with their targets.
    pub(crate) fn compile(selectors: &[(Selector, Target)]) -> Result<Automaton, MaskError> {
        let mut symbols: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
        let mut names: Vec<Box<str>> = Vec::new();
        for (sel, _) in selectors {
            for name in sel.names() {
                if !symbols.contains_key(name.as_bytes()) {
                    symbols.insert(name.as_bytes().into(), names.len() as u32);
                    names.push(name.into());
                }
            }
        }
        // Symbols: each name, then "other key", then "array element".
        let width = names.len() + 2;
        let mut positions = Vec::new();
        let mut start = Vec::new();
        for (sel, target) in selectors {
            start.push(positions.len() as u32);
            for step in 0..=sel.steps.len() {
                positions.push(Position {
                    selector: sel,
                    step,
                    target: *target,
                });
            }
        }

        let mut ids: FxHashMap<Vec<u32>, StateId> = FxHashMap::default();
        let mut sets: Vec<Vec<u32>> = Vec::new();
        for set in [Vec::new(), start] {
            ids.insert(set.clone(), sets.len() as StateId);
            sets.push(set);
        }
        let mut table: Vec<StateId> = Vec::new();
        let mut next_set = Vec::new();
        let mut s = 0;
        while s < sets.len() {
            for symbol in 0..width {
                next_set.clear();
                for &p in sets.get(s).into_iter().flatten() {
                    let Some(pos) = positions.get(p as usize) else {
                        continue;
                    };
                    let Some(step) = pos.selector.steps.get(pos.step) else {
                        continue;
                    };
                    let matches = match &step.test {
                        Test::Any => true,
                        Test::Name(n) => symbols.get(n.as_bytes()) == Some(&(symbol as u32)),
                    };
                    if matches {
                        next_set.push(p + 1);
                    }
                    if step.descendant {
                        next_set.push(p);
                    }
                }
                next_set.sort_unstable();
                next_set.dedup();
                let id = match ids.get(&next_set) {
                    Some(id) => *id,
                    None => {
                        let id = sets.len();
                        if id >= MAX_STATES {
                            return Err(MaskError::TooComplex {
                                states: id,
                                limit: MAX_STATES,
                            });
                        }
                        ids.insert(next_set.clone(), id as StateId);
                        sets.push(next_set.clone());
                        id as StateId
                    }
                };
                table.push(id);
            }
            s += 1;
        }

        let states = sets
            .iter()
            .map(|set| {
                let mut info = StateInfo {
                    rule: NO_RULE,
                    record: false,
                    dead: set.is_empty(),
                    drops_child: false,
                };
                for &p in set {
                    let Some(pos) = positions.get(p as usize) else {
                        continue;
                    };
                    if pos.step == pos.selector.steps.len() {
                        match pos.target {
                            Target::Rule(r) => info.rule = info.rule.min(r),
                            Target::Record => info.record = true,
                        }
                    }
                }
                info
            })
            .collect();
        let mut by_len: Vec<(usize, u64, u32)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.len(), prefix(n.as_bytes()), i as u32))
            .collect();
        by_len.sort_unstable();
        let max_len = by_len.last().map_or(0, |e| e.0);
        let mut len_ranges = vec![(0u32, 0u32); max_len + 1];
        for (i, (len, _, _)) in by_len.iter().enumerate() {
            if let Some(r) = len_ranges.get_mut(*len) {
                if r.0 == r.1 {
                    *r = (i as u32, i as u32);
                }
                r.1 = i as u32 + 1;
            }
        }
        let by_len = by_len.into_iter().map(|(_, p, sym)| (p, sym)).collect();
        Ok(Automaton {
            by_len,
            len_ranges,
            names,
            width,
            table,
            states,
        })
    }

    /// Marks the states with a child whose rule satisfies `is_drop`.
    pub(crate) fn mark_drops(&mut self, is_drop: impl Fn(u32) -> bool) {
        for s in 0..self.states.len() {
            let row = self
                .table
                .get(s * self.width..(s + 1) * self.width)
                .unwrap_or(&[]);
            let drops = row.iter().any(|&t| {
                self.states
                    .get(t as usize)
                    .is_some_and(|i| i.rule != NO_RULE && is_drop(i.rule))
            });
            if let Some(info) = self.states.get_mut(s) {
                info.drops_child = drops;
            }
        }
    }

    /// Facts about a state.
    #[inline]
    pub(crate) fn info(&self, s: StateId) -> StateInfo {
        self.states.get(s as usize).copied().unwrap_or(StateInfo {
            rule: NO_RULE,
            record: false,
            dead: true,
            drops_child: false,
        })
    }

    /// The symbol of a decoded key.
    #[inline]
    pub(crate) fn symbol(&self, key: &[u8]) -> u32 {
        let Some(&(start, end)) = self.len_ranges.get(key.len()) else {
            return OTHER_KEY;
        };
        if start == end {
            return OTHER_KEY;
        }
        let group = self
            .by_len
            .get(start as usize..end as usize)
            .unwrap_or_default();
        let head = prefix(key);
        for &(p, symbol) in group {
            if p == head
                && (key.len() <= 8
                    || self
                        .names
                        .get(symbol as usize)
                        .is_some_and(|n| n.as_bytes().get(8..) == key.get(8..)))
            {
                return symbol;
            }
        }
        OTHER_KEY
    }

    /// The state of a member with key symbol `symbol` of a node in state `s`.
    #[inline]
    pub(crate) fn member(&self, s: StateId, symbol: u32) -> StateId {
        let column = if symbol == OTHER_KEY {
            self.width - 2
        } else {
            symbol as usize
        };
        self.table
            .get(s as usize * self.width + column)
            .copied()
            .unwrap_or(DEAD)
    }

    /// The state of an element of an array in state `s`.
    #[inline]
    pub(crate) fn element(&self, s: StateId) -> StateId {
        self.table
            .get(s as usize * self.width + self.width - 1)
            .copied()
            .unwrap_or(DEAD)
    }

    /// The name of a symbol, for error paths (`*` for keys the selectors do not name).
    pub(crate) fn name(&self, symbol: u32) -> &str {
        self.names.get(symbol as usize).map_or("*", |n| n)
    }

    /// Number of states (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(sels: &[&str]) -> Automaton {
        let sels: Vec<_> = sels
            .iter()
            .enumerate()
            .map(|(i, s)| (Selector::parse(s).unwrap(), Target::Rule(i as u32)))
            .collect();
        Automaton::compile(&sels).unwrap()
    }

    /// Walks a path of keys (`#` = array element) and returns the rule matched there.
    fn rule_at(a: &Automaton, path: &[&str]) -> Option<u32> {
        let mut s = ROOT;
        for k in path {
            s = if *k == "#" {
                a.element(s)
            } else {
                a.member(s, a.symbol(k.as_bytes()))
            };
        }
        let r = a.info(s).rule;
        (r != NO_RULE).then_some(r)
    }

    #[test]
    fn child_descendant_and_wildcards() {
        let a = compile(&["$.a.b", "$..phone", "$.items[*].name", "$.x.*"]);
        assert_eq!(rule_at(&a, &["a", "b"]), Some(0));
        assert_eq!(rule_at(&a, &["a"]), None);
        assert_eq!(rule_at(&a, &["z", "a", "b"]), None);
        assert_eq!(rule_at(&a, &["phone"]), Some(1));
        assert_eq!(rule_at(&a, &["q", "#", "r", "phone"]), Some(1));
        assert_eq!(rule_at(&a, &["items", "#", "name"]), Some(2));
        assert_eq!(rule_at(&a, &["items", "name"]), None);
        assert_eq!(rule_at(&a, &["x", "anything"]), Some(3));
        assert_eq!(rule_at(&a, &["x", "#"]), Some(3));
        assert_eq!(rule_at(&a, &["x", "y", "z"]), None);
    }

    #[test]
    fn first_rule_wins_and_dead_states_are_dead() {
        let a = compile(&["$..id", "$.patient.id"]);
        assert_eq!(rule_at(&a, &["patient", "id"]), Some(0));
        let b = compile(&["$.patient.id"]);
        let s = b.member(ROOT, b.symbol(b"other"));
        assert!(b.info(s).dead);
        assert!(!b.info(ROOT).dead);
    }

    #[test]
    fn symbols_are_found_among_many_names_of_equal_length() {
        let names: Vec<String> = (0..40)
            .map(|i| format!("$..{}", ["k", "longer_key_", "张"][i % 3].repeat(1 + i / 3)))
            .collect();
        for n in [3, 40] {
            let refs: Vec<&str> = names.iter().take(n).map(String::as_str).collect();
            let a = compile(&refs);
            for (i, sel) in refs.iter().enumerate() {
                let key = sel.trim_start_matches("$..");
                assert_eq!(a.symbol(key.as_bytes()), i as u32, "{key}");
                let mut other = key.as_bytes().to_vec();
                other.push(b'!');
                assert_eq!(a.symbol(&other), OTHER_KEY);
                other.insert(0, b'!');
                other.pop();
                assert_eq!(a.symbol(&other), OTHER_KEY);
            }
        }
    }

    #[test]
    fn nested_descendants_stay_small() {
        let sels: Vec<String> = (0..40).map(|i| format!("$..k{i}")).collect();
        let refs: Vec<&str> = sels.iter().map(String::as_str).collect();
        let a = compile(&refs);
        // One root state, one "anywhere" state, one accepting state per name, dead.
        assert!(a.len() < 100, "{}", a.len());
        assert_eq!(rule_at(&a, &["a", "b", "#", "k39"]), Some(39));
    }
}
