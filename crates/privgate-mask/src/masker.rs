//! The public streaming interface: one [`Masker`] per body.
//!
//! ```
//! use std::sync::Arc;
//! use privgate_mask::{FieldRule, Format, Masker, Operator, PiiType, Plan, PlanSpec, Secrets};
//!
//! let spec = PlanSpec {
//!     fields: vec![FieldRule {
//!         name: "phone".into(),
//!         selectors: vec!["$..phone".into()],
//!         pii: PiiType::CnMobile,
//!         operator: Operator::Partial(Default::default()),
//!     }],
//!     ..Default::default()
//! };
//! let plan = Arc::new(Plan::compile(&spec, Secrets::new())?);
//! let mut masker = Masker::new(plan, Format::Json);
//! let mut out = Vec::new();
//! masker.feed(br#"{"name": "x", "pho"#, &mut out)?;
//! masker.feed(br#"ne": "13812345678"}"#, &mut out)?;
//! masker.finish(&mut out)?;
//! assert_eq!(out, br#"{"name": "x", "phone": "138****5678"}"#);
//! # Ok::<(), privgate_mask::MaskError>(())
//! ```
//!
//! Neighbours: `json/` and `csv.rs` do the work; `plan.rs` says what to do.

use std::sync::Arc;

use crate::csv::CsvMasker;
use crate::error::MaskError;
use crate::json::JsonMasker;
use crate::operator::Secrets;
use crate::output::{Counted, Output};
use crate::plan::Plan;
use crate::stats::Stats;
use crate::survey::Survey;

/// The format of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON document.
    Json,
    /// Newline-delimited JSON: one document (record) per line.
    Ndjson,
    /// RFC 4180 CSV with a header row.
    Csv,
}

#[derive(Debug)]
enum Inner {
    Json(JsonMasker),
    Csv(CsvMasker),
}

/// Masks one body as it streams: `feed` chunks of any size, then `finish`.
///
/// Output does not depend on how the input is chunked. After an error the masker is
/// spent (further calls return [`MaskError::Finished`]); the caller must end the stream
/// as incomplete, since nothing after the error point was written.
#[derive(Debug)]
pub struct Masker {
    plan: Arc<Plan>,
    inner: Inner,
    stats: Stats,
    record_limit: Option<u64>,
    spent: bool,
    /// The plan needs a recipient and none was given: every call fails.
    no_recipient: bool,
}

impl Masker {
    /// A masker for one body of `format` under `plan`, for no particular recipient.
    ///
    /// If the plan has an operator with scope `identity`
    /// ([`Plan::needs_recipient`]), the first `feed` or `finish` fails with
    /// [`MaskError::NoRecipient`] and nothing is written (fail closed): use
    /// [`Masker::with_recipient`].
    pub fn new(plan: Arc<Plan>, format: Format) -> Masker {
        let no_recipient = plan.needs_recipient;
        Masker::build(plan, format, None, no_recipient)
    }

    /// A masker for one body of `format` under `plan`, served to `recipient` (the
    /// receiving account's id, e.g. the caller's subject).
    ///
    /// Operators with scope `identity` write pseudonyms unique to `recipient`; the keys
    /// are derived here, once per body ([`crate::Secrets::for_recipient`]). Operators
    /// with scope `global` are unaffected, so for a plan without identity scope this is
    /// [`Masker::new`]. An empty `recipient` counts as none.
    pub fn with_recipient(plan: Arc<Plan>, format: Format, recipient: &str) -> Masker {
        if !plan.needs_recipient {
            return Masker::build(plan, format, None, false);
        }
        if recipient.is_empty() {
            return Masker::build(plan, format, None, true);
        }
        let keys = plan.secrets.for_recipient(recipient);
        Masker::build(plan, format, Some(keys), false)
    }

    fn build(
        plan: Arc<Plan>,
        format: Format,
        recipient: Option<Secrets>,
        no_recipient: bool,
    ) -> Masker {
        let inner = match format {
            Format::Json => Inner::Json(JsonMasker::new(false, recipient)),
            Format::Ndjson => Inner::Json(JsonMasker::new(true, recipient)),
            Format::Csv => Inner::Csv(CsvMasker::new(recipient)),
        };
        Masker {
            plan,
            inner,
            stats: Stats::default(),
            record_limit: None,
            spent: false,
            no_recipient,
        }
    }

    /// Stops the body before the record that would exceed `limit` records: the output
    /// ends at that record's start and `feed` returns [`MaskError::RecordLimit`].
    pub fn set_record_limit(&mut self, limit: Option<u64>) {
        self.record_limit = limit;
    }

    /// Surveys this body as it is masked: where field-covered values sit, and what every
    /// detector finds in the values no field covers (see [`Survey`]). Call before the
    /// first `feed`; the output is the same with or without a survey.
    pub fn start_survey(&mut self) {
        let survey = Some(Box::new(Survey::new(&self.plan)));
        match &mut self.inner {
            Inner::Json(j) => j.survey = survey,
            Inner::Csv(c) => c.survey = survey,
        }
    }

    /// The survey, if [`Masker::start_survey`] was called: complete once `finish` has
    /// returned, partial after an error.
    pub fn survey(&self) -> Option<&Survey> {
        match &self.inner {
            Inner::Json(j) => j.survey.as_deref(),
            Inner::Csv(c) => c.survey.as_deref(),
        }
    }

    /// Masks the next chunk, writing what can be decided to `out`.
    pub fn feed<O: Output>(&mut self, chunk: &[u8], out: &mut O) -> Result<(), MaskError> {
        if self.spent {
            return Err(MaskError::Finished);
        }
        if self.no_recipient {
            self.spent = true;
            return Err(MaskError::NoRecipient);
        }
        let mut counted = Counted {
            inner: out,
            bytes: 0,
        };
        let plan = &*self.plan;
        let result = match &mut self.inner {
            Inner::Json(j) => j.feed(
                plan,
                chunk,
                &mut counted,
                &mut self.stats,
                self.record_limit,
            ),
            Inner::Csv(c) => c.feed(
                plan,
                chunk,
                &mut counted,
                &mut self.stats,
                self.record_limit,
            ),
        };
        self.stats.bytes_in += chunk.len() as u64;
        self.stats.bytes_out += counted.bytes;
        result.map_err(|e| self.fail(*e))
    }

    /// Checks the body is complete and writes what was still held.
    pub fn finish<O: Output>(&mut self, out: &mut O) -> Result<(), MaskError> {
        if self.spent {
            return Err(MaskError::Finished);
        }
        if self.no_recipient {
            self.spent = true;
            return Err(MaskError::NoRecipient);
        }
        let mut counted = Counted {
            inner: out,
            bytes: 0,
        };
        let plan = &*self.plan;
        let result = match &mut self.inner {
            Inner::Json(j) => j.finish(plan, &mut counted, &mut self.stats),
            Inner::Csv(c) => c.finish(plan, &mut counted, &mut self.stats),
        };
        self.stats.bytes_out += counted.bytes;
        self.spent = true;
        result.map_err(|e| self.fail(*e))
    }

    /// What has been done so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bytes the masker holds right now (held values and nesting state).
    pub fn buffered(&self) -> usize {
        match &self.inner {
            Inner::Json(j) => j.buffered(),
            Inner::Csv(c) => c.buffered(),
        }
    }

    /// Marks the masker spent and completes the error's path.
    fn fail(&mut self, mut e: MaskError) -> MaskError {
        self.spent = true;
        let path = match &self.inner {
            Inner::Json(j) => j.path(&self.plan.automaton),
            Inner::Csv(c) => c.path(&self.plan.automaton),
        };
        match &mut e {
            MaskError::Syntax { at, .. }
            | MaskError::ValueTooLong { at, .. }
            | MaskError::TooDeep { at, .. }
            | MaskError::RecordLimit { at, .. } => at.path = path,
            _ => {}
        }
        e
    }
}

/// Masks a whole body held in memory (tests, small bodies, the offline tool's core).
pub fn mask_to_vec(plan: &Arc<Plan>, format: Format, input: &[u8]) -> Result<Vec<u8>, MaskError> {
    masked(Masker::new(Arc::clone(plan), format), input)
}

/// [`mask_to_vec`] for `recipient` (see [`Masker::with_recipient`]).
pub fn mask_to_vec_for(
    plan: &Arc<Plan>,
    format: Format,
    recipient: &str,
    input: &[u8],
) -> Result<Vec<u8>, MaskError> {
    masked(
        Masker::with_recipient(Arc::clone(plan), format, recipient),
        input,
    )
}

fn masked(mut masker: Masker, input: &[u8]) -> Result<Vec<u8>, MaskError> {
    let mut out = Vec::with_capacity(input.len());
    masker.feed(input, &mut out)?;
    masker.finish(&mut out)?;
    Ok(out)
}
