//! `privgate inventory`: reads the data inventory (a snapshot file, or the running
//! gateway's `GET /admin/inventory`) and prints it as a table, as JSON, or as `fields:`
//! catalogue entries for what no policy field covers yet.
//!
//! The snapshot's model is `inventory/mod.rs`; this module only reads and renders it.
//! Paths in the inventory use `[]` for any array element and `*` for a key that looked
//! like data; [`to_selector`] turns them into the policy's selector syntax (`[*]`, `.*`,
//! quoted keys). The inventory holds no values, and nothing here prints any: errors about
//! a malformed file say where it is malformed, never what it holds.
//!
//! The admin call is one HTTP/1.1 GET over a plain TCP connection (the admin listener
//! serves plain HTTP), on a current-thread runtime, with connect and answer timeouts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::{header, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use privgate_policy::{Policy, PolicyError};

use crate::cli::{InventoryArgs, InventoryFormat, UsageError};
use crate::inventory::{Entry, Snapshot, VERSION};
use crate::policy_cmd::print_diagnostics;

/// How long connecting to the admin listener may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the admin listener may take to answer, body included.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from the admin listener.
const MAX_ANSWER: usize = 256 << 20;
/// The level written when no policy is given: `privgate policy check` rejects it, so an
/// entry cannot go live before someone chose its level.
const LEVEL_PLACEHOLDER: &str = "CHOOSE-A-LEVEL";

/// Runs `privgate inventory`.
pub fn run(args: &InventoryArgs) -> Result<ExitCode> {
    let mut snaps = Vec::new();
    for file in &args.file {
        snaps.push(read_file(file)?);
    }
    for url in &args.admin {
        snaps.push(fetch(url, args.token_file.as_deref())?);
    }
    let Some(mut snap) = Snapshot::merge(snaps) else {
        return Err(UsageError("give an inventory FILE or --admin URL".into()).into());
    };
    if let Some(route) = &args.route {
        if !snap.entries.iter().any(|e| &e.route == route) {
            let routes: BTreeSet<&str> = snap.entries.iter().map(|e| e.route.as_str()).collect();
            let hint = match privgate_policy::did_you_mean(route, routes.iter().copied()) {
                Some(m) => format!(" (did you mean `{}`?)", clean(m)),
                None if routes.is_empty() => String::new(),
                None => format!(
                    "; the inventory has entries for: {}",
                    routes
                        .iter()
                        .map(|r| clean(r))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let _ = writeln!(
                io::stderr().lock(),
                "note: no entries for route `{}`{hint}",
                clean(route)
            );
        }
        snap.entries.retain(|e| &e.route == route);
    }

    let text = if args.snippet {
        let policy = match &args.policy {
            Some(dir) => Some(PolicyInfo::load(dir)?),
            None => None,
        };
        snippet(&snap.entries, policy.as_ref())
    } else {
        match args.format {
            InventoryFormat::Table => table(&snap, args.uncovered),
            InventoryFormat::Json => {
                if args.uncovered {
                    snap.entries.retain(|e| !e.covered);
                }
                let mut s = serde_json::to_string_pretty(&snap)
                    .context("cannot write the inventory as JSON")?;
                s.push('\n');
                s
            }
        }
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(ExitCode::SUCCESS),
    }
}

// ----- reading -------------------------------------------------------------------------

fn read_file(path: &Path) -> Result<Snapshot> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "cannot read `{}`: no such file; give the file the gateway keeps its inventory \
             in (its config's `discovery.file`), or read the running gateway with \
             --admin http://ADDR --token-file FILE",
            path.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => bail!(
            "`{}` is not a privgate inventory (not UTF-8 text): give the JSON file the \
             gateway writes (its config's `discovery.file`)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    parse(&text, &format!("`{}`", path.display()))
}

/// Parses a snapshot; `what` names its origin in errors. Errors say where the text is
/// malformed, never what it holds.
fn parse(text: &str, what: &str) -> Result<Snapshot> {
    let fix = "expected the JSON the gateway writes to `discovery.file` or serves at \
               `GET /admin/inventory`";
    let snap = match Snapshot::parse(text) {
        Ok(s) => s,
        Err(e) => {
            let at = format!("line {}, column {}", e.line(), e.column());
            let why = match e.classify() {
                serde_json::error::Category::Data => {
                    let msg = e.to_string();
                    if msg.starts_with("missing field") {
                        msg.split(" at line").next().unwrap_or("").to_owned()
                    } else {
                        format!("a key has the wrong type or value at {at}")
                    }
                }
                _ => format!("not JSON ({at})"),
            };
            bail!("{what} is not a privgate inventory: {why}; {fix}");
        }
    };
    if snap.version > VERSION {
        bail!(
            "{what} is an inventory of version {} and this privgate reads version {VERSION}: \
             use the privgate binary of the gateway that wrote it",
            snap.version
        );
    }
    Ok(snap)
}

/// Where the admin listener is: `http://HOST:PORT[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AdminUrl {
    /// Host as given (brackets of an IPv6 address removed), for connecting.
    host: String,
    port: u16,
    /// `HOST:PORT` as given, for the Host header.
    authority: String,
    /// The request path: the URL's path (if any) and `/admin/inventory`.
    path: String,
}

impl AdminUrl {
    fn parse(url: &str) -> std::result::Result<AdminUrl, UsageError> {
        let bad = |why: &str| {
            UsageError(format!(
                "--admin `{}` {why}: give the admin listener's address, e.g. \
                 http://127.0.0.1:9901 (the gateway prints it at start: `admin on http://…`)",
                clean(url)
            ))
        };
        let uri: Uri = url.parse().map_err(|_| bad("is not a URL"))?;
        match uri.scheme_str() {
            None | Some("http") => {}
            Some("https") => {
                return Err(bad("uses https, and the admin listener serves plain HTTP"))
            }
            Some(_) => return Err(bad("is not an http:// URL")),
        }
        let authority = uri.authority().ok_or_else(|| bad("names no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("holds credentials (give the token with --token-file)"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("names no host"));
        }
        let mut path = uri.path().trim_end_matches('/').to_owned();
        if !path.ends_with("/admin/inventory") {
            path.push_str("/admin/inventory");
        }
        Ok(AdminUrl {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authority: authority.as_str().to_owned(),
            path,
        })
    }

    fn shown(&self) -> String {
        format!("http://{}{}", clean(&self.authority), clean(&self.path))
    }
}

/// Reads `GET /admin/inventory` from the admin listener at `url`.
fn fetch(url: &str, token_file: Option<&Path>) -> Result<Snapshot> {
    let target = AdminUrl::parse(url)?;
    let token = token_file.map(read_token).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (status, body) = runtime.block_on(get(&target, token.clone()))?;
    let shown = target.shown();
    match status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => match token_file {
            None => bail!(
                "{shown} answered 401: the admin listener needs its token; pass \
                 --token-file FILE with the file the gateway config names in \
                 `admin.token_file`"
            ),
            Some(f) => bail!(
                "{shown} answered 401: the token in `{}` is not the gateway's admin token; \
                 pass the file its config names in `admin.token_file`",
                f.display()
            ),
        },
        StatusCode::NOT_FOUND => bail!(
            "{shown} answered 404{}: this gateway serves no inventory; turn discovery on \
             in its config (`discovery:` with a `sample` rate above 0) and restart it, or \
             read the inventory file instead",
            error_code(&body)
        ),
        s => bail!(
            "{shown} answered {s}{}: read the inventory file instead, or see the \
             gateway's log",
            error_code(&body)
        ),
    }
    let text =
        String::from_utf8(body).map_err(|_| anyhow!("the answer of {shown} is not UTF-8 text"))?;
    parse(&text, &format!("the answer of {shown}"))
}

/// The admin token file's content, trimmed. Errors never show the content.
fn read_token(path: &Path) -> Result<HeaderValue> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the admin token file `{}`: give the file the gateway config names \
             in `admin.token_file`",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        bail!(
            "the admin token file `{}` is empty: give the file the gateway config names in \
             `admin.token_file`",
            path.display()
        );
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        anyhow!(
            "the admin token file `{}` holds characters an HTTP header cannot carry",
            path.display()
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// One GET: the status and the body.
async fn get(target: &AdminUrl, token: Option<HeaderValue>) -> Result<(StatusCode, Vec<u8>)> {
    let shown = target.shown();
    let unreachable = |why: String| {
        anyhow!(
            "cannot reach the admin listener at {shown}: {why}; is the gateway running with \
             an `admin:` listener there? (it prints `admin on http://ADDR` at start)"
        )
    };
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|_| unreachable(format!("no connection in {}s", CONNECT_TIMEOUT.as_secs())))?
    .map_err(|e| unreachable(e.to_string()))?;
    let answer = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let conn = tokio::spawn(conn);
        let mut req = Request::get(target.path.as_str())
            .header(header::HOST, target.authority.as_str())
            .header(header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|_| anyhow!("{shown} is not a URL a request can be sent to"))?;
        if let Some(token) = token {
            req.headers_mut().insert(header::AUTHORIZATION, token);
        }
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| anyhow!("{shown} did not answer: {e}"))?;
        let status = res.status();
        let body = Limited::new(res.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| anyhow!("cannot read the answer of {shown}: {e}"))?
            .to_bytes();
        conn.abort();
        Ok::<_, anyhow::Error>((status, body.to_vec()))
    };
    tokio::time::timeout(ANSWER_TIMEOUT, answer)
        .await
        .map_err(|_| {
            anyhow!(
                "{shown} did not answer in {}s: is it the admin listener?",
                ANSWER_TIMEOUT.as_secs()
            )
        })?
}

/// ` (code)` of an admin error answer (`{"code":"admin-unauthorized",…}`), if it has one
/// that looks like a code; nothing else of the body is shown.
fn error_code(body: &[u8]) -> String {
    let code = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned));
    match code {
        Some(c)
            if !c.is_empty()
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            format!(" ({c})")
        }
        _ => String::new(),
    }
}

// ----- the table -----------------------------------------------------------------------

/// The aligned table (uncovered entries first) and the summary line.
fn table(snap: &Snapshot, only_uncovered: bool) -> String {
    let mut rows: Vec<&Entry> = snap
        .entries
        .iter()
        .filter(|e| !only_uncovered || !e.covered)
        .collect();
    rows.sort_by_key(|e| e.covered);
    let head = [
        "ROUTE",
        "PATH",
        "TYPE",
        "COVERED",
        "COUNT",
        "FIRST SEEN",
        "LAST SEEN",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|e| {
            [
                clean(&e.route),
                clean(&e.path),
                clean(&e.pii_type),
                match (&e.field, e.covered) {
                    (_, false) => "NO".to_owned(),
                    (Some(f), true) => clean(f),
                    (None, true) => "yes".to_owned(),
                },
                e.count.to_string(),
                when(&e.first_seen),
                when(&e.last_seen),
            ]
        })
        .collect();
    let mut widths = head.map(width);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(c));
        }
    }
    let mut out = String::new();
    if !cells.is_empty() {
        let line = |out: &mut String, row: &[&str]| {
            let mut s = String::new();
            for (i, (c, w)) in row.iter().zip(widths).enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = " ".repeat(w - width(c));
                if i == 4 {
                    s.push_str(&pad);
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.push_str(&pad);
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&mut out, &head);
        for row in &cells {
            line(&mut out, &row.each_ref().map(String::as_str));
        }
        out.push('\n');
    } else if only_uncovered && !snap.entries.is_empty() {
        out.push_str("no uncovered entries: a policy field covers every path seen\n\n");
    } else {
        out.push_str("no entries yet\n\n");
    }
    out.push_str(&summary(snap));
    out
}

/// One line: entries, coverage of entries and of values, bodies surveyed, sample rate.
fn summary(snap: &Snapshot) -> String {
    let entries = snap.entries.len();
    let covered = snap.entries.iter().filter(|e| e.covered).count();
    let values: u64 = snap.entries.iter().map(|e| e.count).sum();
    let covered_values: u64 = snap
        .entries
        .iter()
        .filter(|e| e.covered)
        .map(|e| e.count)
        .sum();
    let mut s = format!(
        "{entries} {}: {covered} covered, {} uncovered; value coverage ",
        plural(entries, "entry", "entries"),
        entries - covered
    );
    // Floored to a tenth, so 100.0% means every value was covered.
    match covered_values.saturating_mul(1000).checked_div(values) {
        None => s.push_str("- (no values)"),
        Some(tenths) => {
            let _ = write!(
                s,
                "{}.{}% ({covered_values} of {values} {})",
                tenths / 10,
                tenths % 10,
                plural(values as usize, "value", "values")
            );
        }
    }
    let _ = write!(
        s,
        "; {} {} surveyed, sample rate {}",
        snap.surveyed_bodies,
        plural(snap.surveyed_bodies as usize, "body", "bodies"),
        snap.sample
    );
    if snap.dropped > 0 {
        let _ = write!(
            s,
            "; {} {} dropped (the inventory was full: raise `discovery.max_entries`)",
            snap.dropped,
            plural(snap.dropped as usize, "sighting", "sightings")
        );
    }
    s.push('\n');
    s
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// An RFC 3339 time to the second, UTC (`2026-11-29 15:17:00Z`); as given if it is not one.
fn when(s: &str) -> String {
    match s.parse::<jiff::Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        Err(_) => clean(s),
    }
}

/// `s` with control characters replaced, so a crafted file cannot drive the terminal (or
/// break a YAML comment line).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Terminal columns of `s`: East Asian wide characters take two.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            let wide = matches!(c,
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
                | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
                | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

// ----- the snippet ---------------------------------------------------------------------

/// What the snippet needs of a policy: its levels, the level its fields of each type
/// have, and the field names already taken.
#[derive(Debug, Default)]
struct PolicyInfo {
    levels: Vec<String>,
    /// PII type → the highest level index among the policy's fields of that type.
    by_type: HashMap<String, usize>,
    names: HashSet<String>,
}

impl PolicyInfo {
    fn load(dir: &Path) -> Result<PolicyInfo> {
        let policy = match Policy::load_for_check(dir) {
            Ok(p) => p,
            Err(PolicyError::Invalid(diags)) => {
                print_diagnostics(&diags)?;
                bail!(
                    "the policy in `{}` does not load: fix it first (`privgate policy check {}`)",
                    dir.display(),
                    dir.display()
                );
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot load the policy in `{}`: give the policy directory with --policy",
                        dir.display()
                    )
                })
            }
        };
        Ok(PolicyInfo::of(&policy))
    }

    fn of(policy: &Policy) -> PolicyInfo {
        let levels = policy.levels().to_vec();
        let mut by_type = HashMap::new();
        // Every compiled plan lists every field of the catalogue; the first one will do.
        let rows = policy.routes().iter().find_map(|route| {
            policy
                .roles()
                .find_map(|role| policy.explain(role, &route.name).ok())
        });
        for row in rows.into_iter().flatten() {
            if let Some(i) = levels.iter().position(|l| *l == row.level) {
                let e = by_type.entry(row.pii.to_string()).or_insert(i);
                *e = (*e).max(i);
            }
        }
        PolicyInfo {
            levels,
            by_type,
            names: policy.fields().map(str::to_owned).collect(),
        }
    }
}

/// One catalogue entry of the snippet: every uncovered path of one key name, with the
/// types found there.
#[derive(Debug, Default)]
struct Group {
    selectors: Vec<String>,
    types: BTreeSet<String>,
    routes: BTreeSet<String>,
    count: u64,
}

/// `fields:` entries for the uncovered entries, as YAML.
fn snippet(entries: &[Entry], policy: Option<&PolicyInfo>) -> String {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut skipped = 0;
    for e in entries.iter().filter(|e| !e.covered) {
        let Ok(selector) = to_selector(&e.path) else {
            skipped += 1;
            continue;
        };
        let g = groups.entry(key_name(&e.path)).or_default();
        if !g.selectors.contains(&selector) {
            g.selectors.push(selector);
        }
        g.types.insert(e.pii_type.clone());
        g.routes.insert(e.route.clone());
        g.count += e.count;
    }
    if skipped > 0 {
        let _ = writeln!(
            io::stderr().lock(),
            "warning: {skipped} uncovered {} left out: not an inventory path \
             (`$` then `.key`, `.*` or `[]` steps)",
            plural(skipped, "entry", "entries")
        );
    }

    let mut out = String::new();
    if groups.is_empty() {
        out.push_str(
            "# No uncovered entries: a policy field covers every path seen.\nfields: {}\n",
        );
        return out;
    }
    let routes: BTreeSet<&str> = groups
        .values()
        .flat_map(|g| g.routes.iter().map(String::as_str))
        .collect();
    let _ = writeln!(
        out,
        "# Catalogue entries for personal data no policy field covers, from the inventory:\n\
         # {} {} on {} {}. Review each name, level and path, add the entries under the\n\
         # policy's `fields:` (or keep this file in the policy directory), then run\n\
         # `privgate policy check`.",
        groups.len(),
        plural(groups.len(), "entry", "entries"),
        routes.len(),
        plural(routes.len(), "route", "routes"),
    );
    out.push_str("fields:\n");
    let mut taken: HashSet<String> = policy.map(|p| p.names.clone()).unwrap_or_default();
    for (key, g) in &mut groups {
        g.selectors.sort();
        // Several kinds of data under one key: free text that holds them all (a field
        // has one type, and one operator per level applies to the whole value).
        let types: Vec<&str> = g.types.iter().map(String::as_str).collect();
        let (pii, name) = match types.as_slice() {
            [one] => (*one, field_name(key, one)),
            _ => ("free_text", key.clone()),
        };
        let name = unique(name, &taken);
        taken.insert(name.clone());
        let _ = writeln!(
            out,
            "  # seen uncovered on {}: {} {}",
            g.routes
                .iter()
                .map(|r| clean(r))
                .collect::<Vec<_>>()
                .join(", "),
            g.count,
            plural(g.count as usize, "value", "values")
        );
        if types.len() > 1 {
            let _ = writeln!(
                out,
                "  # holds {}: free text",
                types
                    .iter()
                    .map(|t| clean(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(out, "  {}:", yaml_key(&name));
        let quoted: Vec<String> = g.selectors.iter().map(|s| yaml_str(s)).collect();
        let flow = format!("[{}]", quoted.join(", "));
        if flow.len() <= 80 {
            let _ = writeln!(out, "    paths: {flow}");
        } else {
            out.push_str("    paths:\n");
            for q in &quoted {
                let _ = writeln!(out, "      - {q}");
            }
        }
        let _ = writeln!(out, "    type: {}", yaml_key(pii));
        let _ = writeln!(out, "    level: {}", level(&types, policy));
    }
    out
}

/// The `level:` value and its comment: the strictest level the policy gives its fields of
/// the types found (the highest level when it has no field of one of them).
fn level(types: &[&str], policy: Option<&PolicyInfo>) -> String {
    let Some(p) = policy.filter(|p| !p.levels.is_empty()) else {
        return format!(
            "{LEVEL_PLACEHOLDER}   # one of the policy's levels (or give --policy DIR)"
        );
    };
    let highest = p.levels.len() - 1;
    let known: Option<Vec<usize>> = types.iter().map(|t| p.by_type.get(*t).copied()).collect();
    let names = types
        .iter()
        .map(|t| format!("`{}`", clean(t)))
        .collect::<Vec<_>>()
        .join(", ");
    match known.and_then(|k| k.into_iter().max()) {
        Some(i) => format!(
            "{}   # as the policy's other {names} fields",
            yaml_key(p.levels.get(i).map_or("", String::as_str)),
        ),
        None => format!(
            "{}   # the highest level: no field of {names} to go by; lower it if the data allows",
            yaml_key(p.levels.get(highest).map_or("", String::as_str)),
        ),
    }
}

/// Converts an inventory path to a selector: `[]` → `[*]`, a folded `*` key → `.*`, a key
/// the selector grammar cannot take bare → `['key']`.
fn to_selector(path: &str) -> std::result::Result<String, String> {
    let mut rest = path
        .strip_prefix('$')
        .ok_or_else(|| "does not start with `$`".to_owned())?;
    let mut out = String::from("$");
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[]") {
            out.push_str("[*]");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let (key, r) = r.split_at(end);
            if key.is_empty() {
                return Err("has an empty key".to_owned());
            }
            if key == "*" {
                out.push_str(".*");
            } else if key
                .chars()
                .any(|c| matches!(c, ']' | '\'' | '"' | '*' | '\\') || c.is_whitespace())
            {
                out.push_str("['");
                for c in key.chars() {
                    if c == '\'' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push_str("']");
            } else {
                out.push('.');
                out.push_str(key);
            }
            rest = r;
        } else {
            return Err("has a step that is not `.key` or `[]`".to_owned());
        }
    }
    privgate_mask::Selector::parse(&out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The path's last key that is a name (not `*`), normalised: `patientPhone`,
/// `patient-phone` and `patient_phone` all give `patient_phone`. Empty if none.
fn key_name(path: &str) -> String {
    let last = path
        .split(['.', '['])
        .map(|s| s.trim_end_matches(']'))
        .rfind(|s| !s.is_empty() && *s != "$" && *s != "*")
        .unwrap_or("");
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in last.chars() {
        if c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) {
            out.push('_');
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        prev = Some(c);
    }
    out.trim_end_matches('_').to_owned()
}

/// `notes` + `cn_mobile` → `notes_cn_mobile`; a key that already names the type stays.
fn field_name(key: &str, pii: &str) -> String {
    let pii = key_name(&format!("$.{pii}"));
    if key.is_empty() {
        format!("value_{pii}")
    } else if key == pii || key.ends_with(&format!("_{pii}")) {
        key.to_owned()
    } else {
        format!("{key}_{pii}")
    }
}

/// `name`, or `name_2`, `name_3`, … if taken.
fn unique(name: String, taken: &HashSet<String>) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (2..)
        .map(|i| format!("{name}_{i}"))
        .find(|n| !taken.contains(n))
        .unwrap_or(name)
}

/// A key or a scalar: bare when it is a plain identifier YAML reads as a string, else
/// quoted.
fn yaml_key(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        s.to_owned()
    } else {
        yaml_str(s)
    }
}

/// A YAML double-quoted string.
fn yaml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(route: &str, path: &str, pii: &str, field: Option<&str>, count: u64) -> Entry {
        Entry {
            route: route.into(),
            path: path.into(),
            pii_type: pii.into(),
            covered: field.is_some(),
            field: field.map(Into::into),
            count,
            first_seen: "2026-03-01T08:00:00.123Z".into(),
            last_seen: "2026-03-02T09:30:00Z".into(),
        }
    }

    #[test]
    fn paths_become_selectors() {
        for (path, sel) in [
            ("$", "$"),
            ("$.items[].patient.phone", "$.items[*].patient.phone"),
            ("$[].notes", "$[*].notes"),
            ("$.by_phone.*.name", "$.by_phone.*.name"),
            ("$[][]", "$[*][*]"),
            ("$.data.手机", "$.data.手机"),
            ("$.x-ray.a_b", "$.x-ray.a_b"),
            ("$.two words", "$['two words']"),
            ("$.it's", "$['it\\'s']"),
            ("$.a*b", "$['a*b']"),
            ("$.q\"", "$['q\"']"),
        ] {
            assert_eq!(to_selector(path).as_deref(), Ok(sel), "{path}");
            privgate_mask::Selector::parse(sel).unwrap();
        }
        for bad in ["", "items", "$.", "$..a", "$[0]", "$.a..b"] {
            assert!(to_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_come_from_the_last_key_and_the_type() {
        assert_eq!(key_name("$.items[].patient.phone"), "phone");
        assert_eq!(key_name("$[].notes"), "notes");
        assert_eq!(key_name("$.by_phone.*"), "by_phone");
        assert_eq!(key_name("$.a.patientPhone"), "patient_phone");
        assert_eq!(key_name("$.a.patient-phone"), "patient_phone");
        assert_eq!(key_name("$.a.ID2Card"), "id2_card");
        assert_eq!(key_name("$.手机"), "手机");
        assert_eq!(key_name("$[].*"), "");
        assert_eq!(key_name("$"), "");
        assert_eq!(field_name("notes", "cn_mobile"), "notes_cn_mobile");
        assert_eq!(field_name("email", "email"), "email");
        assert_eq!(field_name("contact_email", "email"), "contact_email");
        assert_eq!(field_name("", "cn_id_card"), "value_cn_id_card");
        let taken: HashSet<String> = ["a".into(), "a_2".into()].into();
        assert_eq!(unique("a".into(), &taken), "a_3");
        assert_eq!(unique("b".into(), &taken), "b");
    }

    #[test]
    fn yaml_quoting() {
        assert_eq!(yaml_key("notes_cn_mobile"), "notes_cn_mobile");
        assert_eq!(yaml_key("手机_cn_mobile"), "\"手机_cn_mobile\"");
        assert_eq!(yaml_key("yes"), "\"yes\"");
        assert_eq!(yaml_str("$['it\\'s']"), "\"$['it\\\\'s']\"");
        assert_eq!(yaml_str("a\"b\n"), "\"a\\\"b\\u000a\"");
    }

    #[test]
    fn admin_urls() {
        let u = AdminUrl::parse("http://127.0.0.1:9901").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 9901, "/admin/inventory")
        );
        let u = AdminUrl::parse("127.0.0.1:9901").unwrap();
        assert_eq!((u.port, u.authority.as_str()), (9901, "127.0.0.1:9901"));
        let u = AdminUrl::parse("http://[::1]:9901/gw/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.path.as_str()),
            ("::1", "/gw/admin/inventory")
        );
        let u = AdminUrl::parse("http://gw.internal/admin/inventory").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/admin/inventory"));
        for bad in [
            "https://127.0.0.1:9901",
            "ftp://x",
            "http://u:p@h:1",
            "not a url",
        ] {
            assert!(AdminUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_files_are_located_not_quoted() {
        let err = parse(r#"{"version":1,"updated":"x","sample":1,"surveyed_bodies":"13812345678","entries":[]}"#, "`f`")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("wrong type") && !err.contains("13812345678"),
            "{err}"
        );
        let err = parse(r#"{"version":1}"#, "`f`").unwrap_err().to_string();
        assert!(err.contains("missing field `updated`"), "{err}");
        let err = parse("nope", "`f`").unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
    }

    #[test]
    fn the_table_puts_uncovered_first_and_sums_up() {
        let snap = Snapshot {
            version: 1,
            updated: "2026-03-02T09:30:00Z".into(),
            sample: 0.25,
            surveyed_bodies: 40,
            dropped: 3,
            entries: vec![
                entry(
                    "list",
                    "$.items[].patient.phone",
                    "cn_mobile",
                    Some("patient_phone"),
                    90,
                ),
                entry("list", "$.items[].notes", "cn_mobile", None, 10),
            ],
        };
        let t = table(&snap, false);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("ROUTE  PATH "), "{t}");
        assert!(
            lines[1].contains("$.items[].notes") && lines[1].contains(" NO "),
            "{t}"
        );
        assert!(lines[2].contains("patient_phone"), "{t}");
        assert!(lines[1].contains("2026-03-01 08:00:00Z"), "{t}");
        assert_eq!(
            lines.last().unwrap(),
            &"2 entries: 1 covered, 1 uncovered; value coverage 90.0% (90 of 100 values); \
              40 bodies surveyed, sample rate 0.25; 3 sightings dropped (the inventory was \
              full: raise `discovery.max_entries`)"
        );
        let t = table(&snap, true);
        assert!(!t.contains("patient_phone"), "{t}");
    }

    #[test]
    fn the_snippet_groups_names_and_loads_as_policy() {
        let entries = vec![
            entry("list", "$.items[].notes", "cn_mobile", None, 10),
            entry("detail", "$.data.notes", "cn_mobile", None, 2),
            entry("detail", "$.data.Notes", "cn_mobile", None, 1),
            entry("export", "$[].notes", "email", None, 4),
            entry("list", "$.by_phone.*.name", "person_name", None, 5),
            entry("list", "$.items[].phone", "cn_mobile", Some("phone"), 7),
        ];
        let policy_text = "levels: [L1, L2, L3]\n\
            fields:\n  phone: { paths: [\"$..phone\"], type: cn_mobile, level: L2 }\n\
            roles:\n  r: { clearance: L1 }\n\
            routes:\n  - { name: list, match: { methods: [GET], path: /l }, allow: [r] }\n";
        let policy = Policy::from_sources(
            &[("p.yaml".into(), policy_text.as_bytes().to_vec())],
            privgate_policy::check_secrets(),
        )
        .unwrap();
        let info = PolicyInfo::of(&policy);
        let s = snippet(&entries, Some(&info));
        // `notes` holds phone numbers and e-mail addresses: one free-text field, at the
        // strictest level of the two (no e-mail field to go by: the highest).
        assert!(
            s.contains(
                "  # seen uncovered on detail, export, list: 17 values\n  \
                 # holds cn_mobile, email: free text\n  notes:\n    \
                 paths: [\"$.data.Notes\", \"$.data.notes\", \"$.items[*].notes\", \"$[*].notes\"]\n    \
                 type: free_text\n    level: L3   # the highest level"
            ),
            "{s}"
        );
        assert!(
            s.contains("  name_person_name:\n    paths: [\"$.by_phone.*.name\"]"),
            "{s}"
        );
        let only_phones = snippet(&entries[..3], Some(&info));
        assert!(
            only_phones.contains(
                "  notes_cn_mobile:\n    paths: [\"$.data.Notes\", \"$.data.notes\", \"$.items[*].notes\"]\n    \
                 type: cn_mobile\n    level: L2   # as the policy's other `cn_mobile` fields\n"
            ),
            "{only_phones}"
        );
        assert!(
            !s.contains("patient_phone") && !s.contains("$.items[*].phone"),
            "{s}"
        );
        let merged = Policy::from_sources(
            &[
                ("p.yaml".into(), policy_text.as_bytes().to_vec()),
                ("s.yaml".into(), s.into_bytes()),
            ],
            privgate_policy::check_secrets(),
        );
        assert!(merged.is_ok(), "{merged:?}");

        let s = snippet(&entries, None);
        assert!(
            s.contains(&format!("    level: {LEVEL_PLACEHOLDER}   #")),
            "{s}"
        );
        assert!(snippet(&entries[5..], None).contains("fields: {}"));
    }

    #[test]
    fn taken_names_are_not_reused() {
        let info = PolicyInfo {
            levels: vec!["L1".into()],
            by_type: HashMap::new(),
            names: ["notes_cn_mobile".to_owned()].into(),
        };
        let s = snippet(&[entry("a", "$.notes", "cn_mobile", None, 1)], Some(&info));
        assert!(s.contains("  notes_cn_mobile_2:\n"), "{s}");
    }
}
