//! Counters a masker keeps while streaming: records, bytes, masked values, detections.
//!
//! Counts are by [`PiiType`] and [`OpKind`], never by value, so they can go straight
//! to metrics and audit events. `keep` counts the personal values served unmasked.

use crate::operator::OpKind;
use crate::pii::PiiType;

/// What one masker has done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Records started (array elements under the records path, lines, rows).
    pub records: u64,
    /// Bytes fed.
    pub bytes_in: u64,
    /// Bytes written to the output.
    pub bytes_out: u64,
    masked: [[u64; OpKind::COUNT]; PiiType::COUNT],
    detected: [u64; PiiType::COUNT],
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            records: 0,
            bytes_in: 0,
            bytes_out: 0,
            masked: [[0; OpKind::COUNT]; PiiType::COUNT],
            detected: [0; PiiType::COUNT],
        }
    }
}

impl Stats {
    /// Values of type `pii` that operator `op` was applied to (`keep`: served as is).
    pub fn masked(&self, pii: PiiType, op: OpKind) -> u64 {
        self.masked
            .get(pii.index())
            .and_then(|row| row.get(op.index()))
            .copied()
            .unwrap_or(0)
    }

    /// Findings of detector `pii` in unclassified values.
    pub fn detected(&self, pii: PiiType) -> u64 {
        self.detected.get(pii.index()).copied().unwrap_or(0)
    }

    /// Every non-zero `(type, operator, count)`.
    pub fn masked_counts(&self) -> impl Iterator<Item = (PiiType, OpKind, u64)> + '_ {
        PiiType::ALL.iter().flat_map(move |&t| {
            OpKind::ALL.iter().filter_map(move |&o| {
                let n = self.masked(t, o);
                (n > 0).then_some((t, o, n))
            })
        })
    }

    /// Every non-zero `(type, count)` of detections.
    pub fn detected_counts(&self) -> impl Iterator<Item = (PiiType, u64)> + '_ {
        PiiType::ALL.iter().filter_map(move |&t| {
            let n = self.detected(t);
            (n > 0).then_some((t, n))
        })
    }

    /// Personal values served, masked or not (`keep` included).
    pub fn values(&self) -> u64 {
        self.masked.iter().flatten().sum()
    }

    #[inline]
    pub(crate) fn count_masked(&mut self, pii: PiiType, op: OpKind) {
        if let Some(c) = self
            .masked
            .get_mut(pii.index())
            .and_then(|row| row.get_mut(op.index()))
        {
            *c += 1;
        }
    }

    #[inline]
    pub(crate) fn count_detected(&mut self, pii: PiiType) {
        if let Some(c) = self.detected.get_mut(pii.index()) {
            *c += 1;
        }
    }
}
