//! Reading the trail as people do: one line per event.
//!
//! [`render`] turns a record line into `time #seq kind summary`; [`tail`] renders the
//! last lines of a segment. Rendering shows what a record holds (identities, routes,
//! counts), which by construction is no data subject's value; a line that is not a record
//! is shown as such, without its bytes. This is not the verifier (`verify.rs`).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;

use crate::error::AuditError;
use crate::event::{Event, Record};

fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".to_owned(),
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// One line per event: `2026-11-29T15:45:22.123Z #42 request alice as receptionist …`.
pub fn render(line: &str) -> String {
    let Ok(record) = serde_json::from_str::<Record>(line) else {
        return format!("(not a record: {} bytes)", line.len());
    };
    let mut out = format!("{} #{} {}", record.time, record.seq, record.event.kind());
    let _ = match &record.event {
        Event::Request(r) => {
            let _ = write!(
                out,
                " {} as {} from {} {} {} -> {} {}",
                r.subject,
                opt(&r.role),
                opt(&r.client),
                r.method,
                opt(&r.route),
                r.status,
                name(&r.decision)
            );
            if let Some(reason) = &r.reason {
                let _ = write!(out, " ({reason})");
            }
            let _ = write!(
                out,
                " records={} bytes={} {}ms",
                r.records, r.bytes, r.duration_ms
            );
            if !r.pii.is_empty() {
                out.push_str(" pii=");
                for (i, (pii, ops)) in r.pii.iter().enumerate() {
                    if i > 0 {
                        out.push(';');
                    }
                    let ops: Vec<String> = ops.iter().map(|(op, n)| format!("{op}={n}")).collect();
                    let _ = write!(out, "{pii}:{}", ops.join(","));
                }
            }
            if let Some(a) = &r.approval {
                let _ = write!(out, " approval={a}");
            }
            if let Some(c) = &r.cut {
                let _ = write!(out, " cut={c}");
            }
            Ok(())
        }
        Event::Approval(a) => write!(
            out,
            " {} {} {} by {} (requester {})",
            a.id,
            a.route,
            name(&a.state),
            a.by,
            a.requester
        ),
        Event::Revocation(r) => {
            let target = r
                .value_ref
                .as_deref()
                .or(r.subject.as_deref())
                .unwrap_or("-");
            let _ = write!(out, " {} {} {target}", name(&r.action), name(&r.target));
            if let Some(by) = &r.by {
                let _ = write!(out, " by {by}");
            }
            Ok(())
        }
        Event::PolicyReload(p) => {
            let _ = write!(out, " {} hash={}", name(&p.result), opt(&p.hash));
            if let Some(n) = p.errors {
                let _ = write!(out, " errors={n}");
            }
            Ok(())
        }
        Event::StreamAbort(s) => write!(
            out,
            " {} {} {} records={}",
            s.request_id, s.route, s.reason, s.records
        ),
        Event::Alert(a) => {
            let _ = write!(out, " {} {}", a.alert, a.subject);
            if let Some(route) = &a.route {
                let _ = write!(out, " {route}");
            }
            for (k, v) in &a.details {
                let _ = write!(out, " {k}={v}");
            }
            Ok(())
        }
        Event::Discovery(d) => write!(
            out,
            " {} {} {} {}",
            d.request_id, d.route, d.path, d.pii_type
        ),
        Event::Startup(s) => write!(out, " version={} policy={}", s.version, opt(&s.policy_hash)),
        Event::Shutdown(s) => write!(out, " {}", opt(&s.reason)),
    };
    out
}

/// The last `n` lines of a segment, rendered.
pub fn tail(path: &Path, n: usize) -> Result<Vec<String>, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let mut last: VecDeque<String> = VecDeque::with_capacity(n.min(4096));
    for line in reader.lines() {
        let line = line.map_err(|source| AuditError::Io {
            path: path.to_owned(),
            source,
        })?;
        if n == 0 {
            continue;
        }
        if last.len() == n {
            last.pop_front();
        }
        last.push_back(line);
    }
    Ok(last.iter().map(|l| render(l)).collect())
}
