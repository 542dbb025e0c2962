//! `privgate trace`: names the account a leaked file was served to, from the pseudonyms
//! that operators with `scope: identity` wrote into it.
//!
//! With `scope: identity` every account receives its own pseudonyms: the gateway masks each
//! response under keys derived from the operator's key and the caller's subject
//! (`privgate_mask::Secrets::for_recipient`). A leaked file (JSON, NDJSON or CSV; whole,
//! cut short, re-ordered, or only some columns) is scanned as text for pseudonyms of the
//! policy's identity-scoped operators (`tok_<key id>.<payload>`, `h_<hex>`, or their
//! configured prefixes); then, for each candidate account:
//!
//! - tokens: a token opens (AES-256-GCM authenticates) only under its recipient's derived
//!   key, so the true recipient opens all of them and any other account none;
//! - hashes cannot be opened: given the original data (`--original`, e.g. the upstream
//!   export fetched again by the data owner), the original is masked for the candidate and
//!   the file's hashes are looked up among the candidate's pseudonyms.
//!
//! Pseudonyms that open under the global keys, or that the original gives every account
//! alike, are of scope `global` and count for no one. The result is a ranked table
//! (account, evidence, share of the checked pseudonyms explained) and, with `--audit`, the
//! requests of the accounts with evidence on routes that write identity-scoped pseudonyms.
//! Exit 0 names the most likely account; exit 1: no candidate explains the file (or two
//! explain it equally). Opened values are never printed or kept: counts only.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use privgate_mask::operator::detokenize;
use privgate_mask::{mask_to_vec_for, Format, Operator, Plan, Scope, Secrets};
use privgate_policy::{Policy, PolicyError};

use crate::cli::{FormatArg, UsageError};
use crate::keys;
use crate::policy_cmd::print_diagnostics;

/// The help text after the options.
pub const AFTER_HELP: &str = "\
Needs the policy's keys (the same key files as the gateway's) and operators with
`scope: identity` (e.g. `{ tokenize: { scope: identity } }`). Candidates come from
--candidates (one account a line; `#` starts a comment) and/or from the `request` events
of audit trail files (--audit, repeatable; check them first with `privgate audit verify`).

Tokens are checked by opening them under each candidate's derived key; hashes only with
--original (the original data the file was masked from, any superset of it). Values are
never printed.

Exit codes: 0 the most likely account is named, 1 no candidate explains the file (or two
explain it equally), 2 a usage error.

Examples:
  privgate trace --policy policies/clinic --token-key-file token.key --token-key-id k1 \\
      --audit /var/lib/privgate/audit/audit.jsonl leaked.csv
  privgate trace --policy policies/clinic --hash-key-file hash.key \\
      --candidates accounts.txt --original export.ndjson leaked.ndjson";

/// Arguments of `privgate trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The policy directory.
    #[arg(long, value_name = "DIR")]
    pub policy: PathBuf,
    /// Only this role's plans (default: every role with an identity-scoped operator).
    #[arg(long)]
    pub role: Option<String>,
    /// Only this route's plans, by name (default: every route).
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,
    /// A file of candidate accounts, one a line.
    #[arg(long, value_name = "FILE", required_unless_present = "audit")]
    pub candidates: Option<PathBuf>,
    /// An audit trail file (JSON Lines); its `request` events' subjects are candidates,
    /// and their requests are listed. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub audit: Vec<PathBuf>,
    /// The original data the leaked file was masked from: needed to check hashes.
    #[arg(long, value_name = "FILE")]
    pub original: Option<PathBuf>,
    /// The original's format; by default taken from its extension.
    #[arg(long, value_enum, requires = "original")]
    pub original_format: Option<FormatArg>,
    /// A file holding the `hash` key as hex digits.
    #[arg(long, value_name = "PATH")]
    pub hash_key_file: Option<PathBuf>,
    /// A file holding a `tokenize` key as hex digits (32 bytes).
    #[arg(long, value_name = "PATH")]
    pub token_key_file: Option<PathBuf>,
    /// The id the `tokenize` key is known by.
    #[arg(long, value_name = "ID")]
    pub token_key_id: Option<String>,
    /// The leaked file (JSON, NDJSON or CSV; it may be partial).
    #[arg(value_name = "LEAKED_FILE")]
    pub leaked: PathBuf,
}

/// The recipient whose masking of the original stands for "every account alike": a name
/// no subject can have (it holds a NUL).
const BASELINE: &str = "\0privgate-trace-baseline";

/// Runs `privgate trace`.
pub fn run(args: &TraceArgs) -> Result<ExitCode> {
    let secrets = keys::secrets_from(
        &args.hash_key_file,
        &args.token_key_file,
        &args.token_key_id,
    )?;
    let policy = match Policy::load(&args.policy, secrets.clone()) {
        Ok(p) => p,
        Err(PolicyError::Invalid(diags)) => {
            print_diagnostics(&diags)?;
            bail!(
                "the policy in `{}` does not load (hash and tokenize need their key files)",
                args.policy.display()
            );
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot load the policy in `{}`", args.policy.display()))
        }
    };
    let plans = scoped_plans(&policy, args)?;
    let patterns = Patterns::of(plans.iter().map(|p| &*p.plan));

    let leaked = std::fs::read(&args.leaked)
        .with_context(|| format!("cannot read `{}`", args.leaked.display()))?;
    let found = patterns.scan(&leaked);
    let original = match &args.original {
        Some(path) => Some(Original::read(path, args.original_format)?),
        None => None,
    };

    let mut candidates = Vec::new();
    if let Some(path) = &args.candidates {
        candidates.extend(read_candidates(path)?);
    }
    let trail = Trail::read(&args.audit)?;
    candidates.extend(trail.subjects.iter().cloned());
    let mut seen = HashSet::new();
    candidates.retain(|c| seen.insert(c.clone()));
    if candidates.is_empty() {
        bail!("no candidate accounts: the candidates file and the audit trail name none");
    }

    // Pseudonyms every account gets alike (scope `global`) are evidence for no one.
    let baseline = match &original {
        Some(o) => o.pseudonyms(&plans, &patterns, BASELINE)?,
        None => HashSet::new(),
    };
    let global: HashSet<&Pseudonym> = found
        .iter()
        .filter(|p| baseline.contains(&p.text) || p.opens(&secrets))
        .collect();
    let checked: Vec<&Pseudonym> = found
        .iter()
        .filter(|p| !global.contains(p))
        .filter(|p| p.kind == Kind::Token || original.is_some())
        .collect();
    let unchecked = found.len() - global.len() - checked.len();

    let mut scores = Vec::with_capacity(candidates.len());
    for account in &candidates {
        let keys = secrets.for_recipient(account);
        let theirs = match &original {
            Some(o) => o.pseudonyms(&plans, &patterns, account)?,
            None => HashSet::new(),
        };
        let evidence = checked
            .iter()
            .filter(|p| theirs.contains(&p.text) || p.opens(&keys))
            .count();
        scores.push(Score {
            account: account.clone(),
            evidence,
        });
    }
    scores.sort_by(|a, b| b.evidence.cmp(&a.evidence).then(a.account.cmp(&b.account)));

    let mut out = std::io::stdout().lock();
    let tokens = found.iter().filter(|p| p.kind == Kind::Token).count();
    writeln!(
        out,
        "{}: {} pseudonyms found ({} tokens, {} hashes); {} of scope global; {} checked{}",
        args.leaked.display(),
        found.len(),
        tokens,
        found.len() - tokens,
        global.len(),
        checked.len(),
        if unchecked > 0 {
            format!("; {unchecked} hashes not checked (give --original)")
        } else {
            String::new()
        }
    )?;
    let width = scores
        .iter()
        .map(|s| s.account.chars().count())
        .max()
        .unwrap_or(0)
        .max("account".len());
    writeln!(
        out,
        "{:width$}  {:>8}  {:>9}",
        "account", "evidence", "explained"
    )?;
    for s in &scores {
        writeln!(
            out,
            "{:width$}  {:>8}  {:>8.1}%",
            s.account,
            s.evidence,
            share(s.evidence, checked.len())
        )?;
    }
    for s in scores.iter().filter(|s| s.evidence > 0) {
        trail.print_requests(&mut out, &s.account, &plans)?;
    }

    let top = scores.first().filter(|s| s.evidence > 0);
    let runner_up = scores.get(1).map_or(0, |s| s.evidence);
    match top {
        Some(t) if t.evidence > runner_up => {
            writeln!(
                out,
                "most likely: {} ({} of {} checked pseudonyms)",
                t.account,
                t.evidence,
                checked.len()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Some(t) => {
            writeln!(
                out,
                "ambiguous: several candidates explain {} pseudonyms each",
                t.evidence
            )?;
            Ok(ExitCode::FAILURE)
        }
        None => {
            writeln!(out, "no candidate explains the file")?;
            Ok(ExitCode::FAILURE)
        }
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

struct Score {
    account: String,
    evidence: usize,
}

/// A plan that writes identity-scoped pseudonyms, and where it applies.
struct ScopedPlan {
    role: String,
    route: String,
    plan: std::sync::Arc<Plan>,
}

fn scoped_plans(policy: &Policy, args: &TraceArgs) -> Result<Vec<ScopedPlan>> {
    if let Some(role) = &args.role {
        if !policy.roles().any(|r| r == role) {
            return Err(UsageError(format!("the policy has no role `{role}`")).into());
        }
    }
    if let Some(route) = &args.route {
        if policy.route(route).is_none() {
            return Err(UsageError(format!("the policy has no route `{route}`")).into());
        }
    }
    let mut plans = Vec::new();
    for route in policy.routes() {
        if args.route.as_ref().is_some_and(|r| *r != route.name) {
            continue;
        }
        for role in policy.roles() {
            if args.role.as_ref().is_some_and(|r| r != role) {
                continue;
            }
            if let Some(plan) = policy.plan(role, &route.name) {
                if plan.needs_recipient() {
                    plans.push(ScopedPlan {
                        role: role.to_owned(),
                        route: route.name.clone(),
                        plan: plan.clone(),
                    });
                }
            }
        }
    }
    if plans.is_empty() {
        bail!("no plan of the policy (for the role and route given) has an operator with `scope: identity`: nothing can be traced");
    }
    Ok(plans)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Token,
    Hash,
}

/// One pseudonym found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Pseudonym {
    text: String,
    kind: Kind,
    /// For tokens: the prefix it was found with.
    prefix: String,
}

impl Pseudonym {
    /// Whether the token opens under `secrets` (the value is dropped at once).
    fn opens(&self, secrets: &Secrets) -> bool {
        self.kind == Kind::Token && detokenize(secrets, &self.prefix, &self.text).is_ok()
    }
}

/// The shapes of the identity-scoped pseudonyms of some plans.
struct Patterns {
    token_prefixes: BTreeSet<String>,
    /// Prefix and number of hex digits.
    hashes: BTreeSet<(String, usize)>,
}

impl Patterns {
    fn of<'a>(plans: impl Iterator<Item = &'a Plan>) -> Patterns {
        let mut p = Patterns {
            token_prefixes: BTreeSet::new(),
            hashes: BTreeSet::new(),
        };
        for plan in plans {
            for op in plan.operators().filter(|o| o.scope() == Scope::Identity) {
                match op {
                    Operator::Tokenize(t) => {
                        p.token_prefixes.insert(t.prefix.clone());
                    }
                    Operator::Hash(h) => {
                        p.hashes.insert((h.prefix.clone(), h.length.clamp(8, 64)));
                    }
                    _ => {}
                }
            }
        }
        p
    }

    /// Every distinct pseudonym of these shapes in `text`, in order of first appearance.
    /// A match must start where no token character precedes it (so `h_…` inside a token
    /// is not a hash) and run to the end of its token characters.
    fn scan(&self, bytes: &[u8]) -> Vec<Pseudonym> {
        let text = String::from_utf8_lossy(bytes);
        let b = text.as_bytes();
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let mut i = 0;
        while i < b.len() {
            let boundary = i == 0 || b.get(i - 1).is_none_or(|c| !is_token_byte(*c));
            let hit = if boundary {
                self.token_at(b, i).or_else(|| self.hash_at(b, i))
            } else {
                None
            };
            match hit {
                Some((end, kind, prefix)) => {
                    let t = String::from_utf8_lossy(b.get(i..end).unwrap_or_default());
                    let p = Pseudonym {
                        text: t.into_owned(),
                        kind,
                        prefix,
                    };
                    if seen.insert(p.text.clone()) {
                        found.push(p);
                    }
                    i = end;
                }
                None => i += 1,
            }
        }
        found
    }

    fn token_at(&self, b: &[u8], i: usize) -> Option<(usize, Kind, String)> {
        for prefix in self.token_prefixes.iter().rev() {
            let rest = b.get(i..)?;
            if !rest.starts_with(prefix.as_bytes()) || prefix.is_empty() {
                continue;
            }
            let id_start = i + prefix.len();
            let id_len = span(b, id_start, |c| c.is_ascii_alphanumeric() || c == b'-');
            if !(1..=32).contains(&id_len) || b.get(id_start + id_len) != Some(&b'.') {
                continue;
            }
            let payload = id_start + id_len + 1;
            let len = span(b, payload, is_token_byte);
            // Nonce and tag alone are 28 bytes: 38 base64url characters.
            if len >= 38 {
                return Some((payload + len, Kind::Token, prefix.clone()));
            }
        }
        None
    }

    fn hash_at(&self, b: &[u8], i: usize) -> Option<(usize, Kind, String)> {
        for (prefix, length) in self.hashes.iter().rev() {
            let rest = b.get(i..)?;
            if !rest.starts_with(prefix.as_bytes()) || prefix.is_empty() {
                continue;
            }
            let start = i + prefix.len();
            let hex = span(b, start, |c| {
                c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
            });
            let after = b.get(start + hex).copied();
            if hex == *length && after.is_none_or(|c| !is_token_byte(c)) {
                return Some((start + hex, Kind::Hash, prefix.clone()));
            }
        }
        None
    }
}

fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// How many bytes from `start` satisfy `ok`.
fn span(b: &[u8], start: usize, ok: impl Fn(u8) -> bool) -> usize {
    b.get(start..)
        .map_or(0, |s| s.iter().take_while(|c| ok(**c)).count())
}

/// The original data, masked on demand for one recipient.
struct Original {
    bytes: Vec<u8>,
    format: Format,
}

impl Original {
    fn read(path: &Path, format: Option<FormatArg>) -> Result<Original> {
        let format = match format {
            Some(f) => f.into(),
            None => format_of(path)?,
        };
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        Ok(Original { bytes, format })
    }

    /// The pseudonyms `recipient` would have received of the original, under every plan.
    fn pseudonyms(
        &self,
        plans: &[ScopedPlan],
        patterns: &Patterns,
        recipient: &str,
    ) -> Result<HashSet<String>> {
        let mut all = HashSet::new();
        for p in plans {
            let masked = mask_to_vec_for(&p.plan, self.format, recipient, &self.bytes)
                .map_err(|e| anyhow!("cannot mask the original for route `{}`: {e}", p.route))?;
            all.extend(patterns.scan(&masked).into_iter().map(|p| p.text));
        }
        Ok(all)
    }
}

fn format_of(path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("json") => Ok(Format::Json),
        Some("ndjson" | "jsonl") => Ok(Format::Ndjson),
        Some("csv") => Ok(Format::Csv),
        _ => Err(UsageError(format!(
            "cannot tell the format of `{}` from its extension: pass --original-format json|ndjson|csv",
            path.display()
        ))
        .into()),
    }
}

fn read_candidates(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// One `request` event of the audit trail.
struct Request {
    id: String,
    time: String,
    method: String,
    route: String,
    role: String,
    status: Option<u64>,
    decision: String,
    records: Option<u64>,
}

/// The `request` events of audit trail files, by subject.
#[derive(Default)]
struct Trail {
    /// Subjects in order of first appearance.
    subjects: Vec<String>,
    requests: HashMap<String, Vec<Request>>,
}

impl Trail {
    fn read(files: &[PathBuf]) -> Result<Trail> {
        let mut trail = Trail::default();
        for path in files {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read audit trail `{}`", path.display()))?;
            // A torn last line (a crash mid-write) or any other non-event is skipped.
            for line in text.lines() {
                let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if event.get("kind").and_then(|k| k.as_str()) != Some("request") {
                    continue;
                }
                let Some(subject) = event.get("subject").and_then(|s| s.as_str()) else {
                    continue;
                };
                let text = |k: &str| {
                    event
                        .get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned()
                };
                let request = Request {
                    id: text("request_id"),
                    time: text("time"),
                    method: text("method"),
                    route: text("route"),
                    role: text("role"),
                    status: event.get("status").and_then(|v| v.as_u64()),
                    decision: text("decision"),
                    records: event.get("records").and_then(|v| v.as_u64()),
                };
                if !trail.requests.contains_key(subject) {
                    trail.subjects.push(subject.to_owned());
                }
                trail
                    .requests
                    .entry(subject.to_owned())
                    .or_default()
                    .push(request);
            }
        }
        Ok(trail)
    }

    /// The account's served requests on routes (and roles) that write identity-scoped
    /// pseudonyms: the requests that could have served the file.
    fn print_requests(
        &self,
        out: &mut impl std::io::Write,
        account: &str,
        plans: &[ScopedPlan],
    ) -> Result<()> {
        let Some(requests) = self.requests.get(account) else {
            return Ok(());
        };
        let could = |r: &&Request| {
            r.decision != "deny" && plans.iter().any(|p| p.route == r.route && p.role == r.role)
        };
        let matching: Vec<&Request> = requests.iter().filter(could).collect();
        writeln!(
            out,
            "requests by {account} that could have served the file: {}",
            matching.len()
        )?;
        for r in matching {
            writeln!(
                out,
                "  {}  {}  {} {}  role {}  status {}  records {}  {}",
                r.id,
                r.time,
                r.method,
                r.route,
                r.role,
                r.status.map_or("-".to_owned(), |s| s.to_string()),
                r.records.map_or("-".to_owned(), |n| n.to_string()),
                r.decision
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns() -> Patterns {
        Patterns {
            token_prefixes: ["tok_".to_owned()].into(),
            hashes: [("h_".to_owned(), 16)].into(),
        }
    }

    #[test]
    fn scanning_finds_whole_pseudonyms_only() {
        let token = format!("tok_k1.{}", "A".repeat(40));
        let text = format!(
            "{{\"a\":\"{token}\",\"b\":\"h_0123456789abcdef\",\"c\":\"xh_0123456789abcdef\"}}\n\
             h_0123456789abcde,h_0123456789abcdef0,{token},tok_k1.AAAA,\"tok_{}\"",
            "A".repeat(40)
        );
        let found = patterns().scan(text.as_bytes());
        let texts: Vec<&str> = found.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, [token.as_str(), "h_0123456789abcdef"]);
        assert_eq!(found[0].kind, Kind::Token);
        assert_eq!(found[1].kind, Kind::Hash);
    }

    #[test]
    fn a_hash_inside_a_token_is_not_a_hash() {
        let token = format!("tok_k1.AAAh_0123456789abcdef{}", "B".repeat(30));
        let found = patterns().scan(token.as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, Kind::Token);
    }

    #[test]
    fn candidates_skip_blanks_and_comments() {
        let dir = std::env::temp_dir().join(format!("privgate-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.txt");
        std::fs::write(&f, "alice\n\n# staff\n bob  # on leave\n").unwrap();
        assert_eq!(read_candidates(&f).unwrap(), ["alice", "bob"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
