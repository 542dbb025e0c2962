//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no script,
//! no external asset; readable on screen and printed. Every text that comes from the
//! trail or the policy goes through [`esc`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::model::{technique, Report, Status};
use super::svg;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r"
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','Noto Sans CJK SC',sans-serif;margin:0 auto;max-width:1100px;padding:1.5rem;color:#222;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;border-bottom:2px solid #333;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.05rem;margin-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #ccc;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.banner{padding:.8rem 1rem;border-radius:4px;font-weight:600;margin:.5rem 0}
.ok{background:#e6f4ea;border:2px solid #2e7d32;color:#1b5e20}
.broken{background:#fdecea;border:3px solid #c62828;color:#b71c1c;font-size:1.2rem}
.mark{display:inline-block;padding:0 .4rem;border-radius:3px;font-weight:600;font-size:.85rem}
.pass{background:#e6f4ea;color:#1b5e20}.attention{background:#fff4e5;color:#8a4b00}.out{background:#eee;color:#555}
.muted{color:#666}.small{font-size:.85rem}code{font-size:.85rem;word-break:break-all}
nav ol{columns:2;font-size:.9rem}
svg{max-width:100%;height:auto;font-family:inherit}
@media print{body{max-width:none;padding:0;font-size:10pt}nav{display:none}section{break-inside:auto}
h2{break-after:avoid}table,svg{break-inside:avoid}a{color:inherit;text-decoration:none}
.broken,.ok,.mark{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
";

const SECTIONS: [(&str, &str); 12] = [
    ("chain", "Audit chain verification"),
    ("period", "Period and policy versions"),
    ("access", "Access volume by day and role"),
    ("pii", "Personal values served, masked and unmasked"),
    ("exports", "Exports and approvals"),
    ("denials", "Denials and step-up challenges"),
    ("alerts", "Alerts and cut streams"),
    ("identities", "Top identities by personal-data volume"),
    ("inventory", "Inventory coverage"),
    ("processing", "Records of processing"),
    ("controls", "Controls checklist (PIPL Art. 51)"),
    ("policy", "Policy in force: routes and catalogue"),
];

fn open_section(out: &mut String, id: &str) {
    let title = SECTIONS
        .iter()
        .find(|(i, _)| *i == id)
        .map_or(id, |(_, t)| *t);
    let _ = write!(out, "<section id=\"{id}\">\n<h2>{}</h2>\n", esc(title));
}

fn table_head(out: &mut String, cols: &[&str]) {
    out.push_str("<table>\n<thead><tr>");
    for c in cols {
        if let Some(c) = c.strip_prefix('#') {
            let _ = write!(out, "<th class=\"n\">{}</th>", esc(c));
        } else {
            let _ = write!(out, "<th>{}</th>", esc(c));
        }
    }
    out.push_str("</tr></thead>\n<tbody>\n");
}

fn td(out: &mut String, s: &str) {
    let _ = write!(out, "<td>{}</td>", esc(s));
}

fn tdn(out: &mut String, n: impl std::fmt::Display) {
    let _ = write!(out, "<td class=\"n\">{n}</td>");
}

fn mark(status: Status) -> String {
    let class = match status {
        Status::Pass => "pass",
        Status::Attention => "attention",
        Status::OutOfScope => "out",
    };
    format!("<span class=\"mark {class}\">{}</span>", status.label())
}

fn opt(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

/// Renders the report.
#[allow(clippy::too_many_lines, reason = "the page, section by section")]
pub fn render(r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ =
        writeln!(
        o,
        "<title>privgate compliance report {} – {}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        esc(opt(r.period.from.as_deref().or(r.period.first_event.as_deref()))),
        esc(opt(r.period.to.as_deref().or(r.period.last_event.as_deref())))
    );
    o.push_str("<header>\n<h1>Personal data processing: compliance report</h1>\n");
    let _ = writeln!(
        o,
        "<p class=\"muted small\">Written by {} at {} from {} audit file(s) and the policy in <code>{}</code>. No value of a data subject is in the trail or in this report; identities shown are employees and service accounts.</p>",
        esc(&r.generator),
        esc(&r.generated_at),
        r.chain.files.len(),
        esc(&r.policy.dir)
    );
    if r.chain.intact {
        let _ = writeln!(
            o,
            "<div class=\"banner ok\" id=\"chain-status\">Audit chain verified: {}</div>",
            esc(&r.chain.summary)
        );
    } else {
        let _ = writeln!(
            o,
            "<div class=\"banner broken\" id=\"chain-status\">AUDIT CHAIN BROKEN: {}. The figures below come from a trail that does not verify.</div>",
            esc(&r.chain.summary)
        );
    }
    o.push_str("<nav>\n<ol>");
    for (id, title) in SECTIONS {
        let _ = write!(o, "<li><a href=\"#{id}\">{}</a></li>", esc(title));
    }
    o.push_str("</ol>\n</nav>\n</header>\n<main>\n");

    // Chain.
    open_section(&mut o, "chain");
    let c = &r.chain;
    table_head(&mut o, &["Check", "Result"]);
    o.push_str("<tr><td>Result</td><td>");
    o.push_str(if c.intact {
        "<span class=\"mark pass\">intact</span>"
    } else {
        "<span class=\"mark attention\">BROKEN</span>"
    });
    o.push_str("</td></tr>\n<tr>");
    td(&mut o, "Verifier");
    td(&mut o, &c.summary);
    o.push_str("</tr>\n<tr>");
    td(&mut o, "Events checked");
    td(
        &mut o,
        &format!(
            "{} (seq {}..={})",
            c.events,
            c.first_seq.map_or("-".to_owned(), |s| s.to_string()),
            c.last_seq.map_or("-".to_owned(), |s| s.to_string())
        ),
    );
    o.push_str("</tr>\n");
    if let Some(p) = &c.problem {
        o.push_str("<tr>");
        td(&mut o, "First problem");
        td(
            &mut o,
            &format!("{} at {} line {}: {}", p.kind, p.file, p.line, p.detail),
        );
        o.push_str("</tr>\n");
    }
    o.push_str("<tr>");
    td(&mut o, "Files");
    td(&mut o, &c.files.join(", "));
    o.push_str("</tr>\n");
    if c.unreadable_lines > 0 {
        o.push_str("<tr>");
        td(&mut o, "Lines not read as events");
        tdn(&mut o, c.unreadable_lines);
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n</section>\n");

    // Period and policy versions.
    open_section(&mut o, "period");
    let p = &r.period;
    let bound = |d: Option<&str>, e: Option<&str>| {
        d.map_or_else(
            || format!("{} (first/last event)", opt(e.and_then(|t| t.get(..10)))),
            str::to_owned,
        )
    };
    let _ = writeln!(
        o,
        "<p>Period: <strong>{}</strong> to <strong>{}</strong> (UTC days, inclusive). Events in the period: {}, first {}, last {}.</p>",
        esc(&bound(p.from.as_deref(), p.first_event.as_deref())),
        esc(&bound(p.to.as_deref(), p.last_event.as_deref())),
        p.events,
        esc(opt(p.first_event.as_deref())),
        esc(opt(p.last_event.as_deref()))
    );
    let t = &r.totals;
    let _ = writeln!(
        o,
        "<p>Requests: {} ({} served, {} refused, {} served in shadow mode though a control would refuse). Records served: {}. Personal values served: {} masked, {} unmasked. Identities: {}.</p>",
        t.requests, t.served, t.denied, t.would_deny, t.records, t.masked, t.unmasked, t.identities
    );
    o.push_str("<h3>Policy versions in force</h3>\n");
    if r.policy_versions.is_empty() {
        o.push_str("<p class=\"muted\">No startup or policy reload event in the trail.</p>\n");
    } else {
        table_head(
            &mut o,
            &["Time", "#Seq", "Event", "Result", "Policy hash", "Note"],
        );
        for v in &r.policy_versions {
            o.push_str("<tr>");
            td(&mut o, &v.time);
            tdn(&mut o, v.seq);
            td(&mut o, &v.source);
            td(&mut o, &v.result);
            let _ = write!(o, "<td><code>{}</code></td>", esc(opt(v.hash.as_deref())));
            let mut note = Vec::new();
            if v.before_period {
                note.push("in force at the start of the period".to_owned());
            }
            if let Some(e) = v.errors {
                note.push(format!("rejected: {e} error(s); previous version stays"));
            }
            if v.hash
                .as_deref()
                .is_some_and(|h| super::model::hash_eq(h, &r.policy.hash))
            {
                note.push("= the policy of this report".to_owned());
            }
            td(&mut o, &note.join("; "));
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("</section>\n");

    // Access by day.
    open_section(&mut o, "access");
    let days: Vec<String> = r
        .access_by_day
        .iter()
        .map(|d| d.day.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let roles: Vec<String> = r
        .access_by_day
        .iter()
        .map(|d| d.role.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if days.is_empty() {
        o.push_str("<p class=\"muted\">No request served in the period.</p>\n");
    } else {
        let req: BTreeMap<(String, String), u64> = r
            .access_by_day
            .iter()
            .map(|d| ((d.day.clone(), d.role.clone()), d.requests))
            .collect();
        let rec: BTreeMap<(String, String), u64> = r
            .access_by_day
            .iter()
            .map(|d| ((d.day.clone(), d.role.clone()), d.records))
            .collect();
        o.push_str("<h3>Requests served per day, by role</h3>\n<figure>");
        o.push_str(&svg::stacked_bars(
            "Requests served per day by role",
            &days,
            &roles,
            &req,
        ));
        o.push_str("</figure>\n<h3>Records served per day, by role</h3>\n<figure>");
        o.push_str(&svg::lines(
            "Records served per day by role",
            &days,
            &roles,
            &rec,
        ));
        o.push_str("</figure>\n");
        table_head(&mut o, &["Role", "#Requests served", "#Records served"]);
        for role in &roles {
            let rq: u64 = r
                .access_by_day
                .iter()
                .filter(|d| &d.role == role)
                .map(|d| d.requests)
                .sum();
            o.push_str("<tr>");
            td(&mut o, role);
            tdn(&mut o, rq);
            tdn(
                &mut o,
                r.totals.records_by_role.get(role).copied().unwrap_or(0),
            );
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("</section>\n");

    // PII.
    open_section(&mut o, "pii");
    if r.pii.is_empty() {
        o.push_str("<p class=\"muted\">No personal value served in the period.</p>\n");
    } else {
        let cats: Vec<String> = r.pii.iter().map(|x| x.pii_type.clone()).collect();
        let series = vec!["unmasked (keep)".to_owned(), "masked".to_owned()];
        let mut vals = BTreeMap::new();
        for x in &r.pii {
            vals.insert((x.pii_type.clone(), series[0].clone()), x.unmasked);
            vals.insert((x.pii_type.clone(), series[1].clone()), x.masked);
        }
        o.push_str("<figure>");
        o.push_str(&svg::stacked_bars(
            "Personal values served by PII type",
            &cats,
            &series,
            &vals,
        ));
        o.push_str("</figure>\n");
        let ops: BTreeSet<&str> = r
            .pii
            .iter()
            .flat_map(|x| x.by_operator.keys().map(String::as_str))
            .filter(|k| *k != "keep")
            .collect();
        let mut cols = vec!["PII type", "#Unmasked (keep)", "#Masked"];
        let op_cols: Vec<String> = ops.iter().map(|o| format!("#{o}")).collect();
        cols.extend(op_cols.iter().map(String::as_str));
        table_head(&mut o, &cols);
        for x in &r.pii {
            o.push_str("<tr>");
            td(&mut o, &x.pii_type);
            tdn(&mut o, x.unmasked);
            tdn(&mut o, x.masked);
            for op in &ops {
                tdn(&mut o, x.by_operator.get(*op).copied().unwrap_or(0));
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("</section>\n");

    // Exports.
    open_section(&mut o, "exports");
    if r.exports.is_empty() {
        o.push_str("<p class=\"muted\">No export approval in the period.</p>\n");
    } else {
        table_head(
            &mut o,
            &[
                "Approval",
                "Route",
                "Requester",
                "Approver(s)",
                "State changes",
                "Exports (time, subject, status, records, cut)",
                "#Records served",
            ],
        );
        for e in &r.exports {
            o.push_str("<tr>");
            td(&mut o, &e.approval);
            td(&mut o, &e.route);
            td(&mut o, &e.requester);
            let mut approvers = esc(&e.approvers.join(", "));
            if e.self_approved {
                approvers.push_str(" <span class=\"mark attention\">self-approved</span>");
            }
            let _ = write!(o, "<td>{approvers}</td><td>");
            for s in &e.states {
                let _ = write!(
                    o,
                    "{} {} by {}<br>",
                    esc(&s.time),
                    esc(&s.state),
                    esc(&s.by)
                );
            }
            o.push_str("</td><td>");
            for q in &e.requests {
                let _ = write!(
                    o,
                    "{} {} {} {} records{}<br>",
                    esc(&q.time),
                    esc(&q.subject),
                    q.status,
                    q.records,
                    q.cut
                        .as_deref()
                        .map(|c| format!(", cut: {}", esc(c)))
                        .unwrap_or_default()
                );
            }
            o.push_str("</td>");
            tdn(&mut o, e.records);
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    if !r.unapproved_exports.is_empty() {
        o.push_str("<h3>Exports served without an approval</h3>\n");
        table_head(
            &mut o,
            &[
                "Time", "Subject", "Route", "Decision", "#Status", "#Records",
            ],
        );
        for q in &r.unapproved_exports {
            o.push_str("<tr>");
            td(&mut o, &q.time);
            td(&mut o, &q.subject);
            td(&mut o, &q.route);
            td(&mut o, &q.decision);
            tdn(&mut o, q.status);
            tdn(&mut o, q.records);
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("</section>\n");

    // Denials.
    open_section(&mut o, "denials");
    let d = &r.denials;
    let _ = writeln!(
        o,
        "<p>{} request(s) refused, of which {} step-up challenge(s).</p>",
        d.total, d.step_up
    );
    for (title, label, rows) in [
        ("Refused by reason", "Reason", &d.by_reason),
        ("Refused by route", "Route", &d.by_route),
        ("Step-up challenges by route", "Route", &d.step_up_by_route),
        (
            "Served in shadow mode, would have been refused (by reason)",
            "Reason",
            &d.would_deny_by_reason,
        ),
    ] {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(o, "<h3>{}</h3>", esc(title));
        table_head(&mut o, &[label, "#Requests"]);
        for c in rows {
            o.push_str("<tr>");
            td(&mut o, &c.key);
            tdn(&mut o, c.count);
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("</section>\n");

    // Alerts.
    open_section(&mut o, "alerts");
    if r.alerts.is_empty() {
        o.push_str("<p class=\"muted\">No alert in the period.</p>\n");
    } else {
        table_head(
            &mut o,
            &["Time", "Detector", "Identity", "Route", "Details"],
        );
        for a in &r.alerts {
            o.push_str("<tr>");
            td(&mut o, &a.time);
            td(&mut o, &a.alert);
            td(&mut o, &a.subject);
            td(&mut o, opt(a.route.as_deref()));
            let details: Vec<String> = a.details.iter().map(|(k, v)| format!("{k}={v}")).collect();
            td(&mut o, &details.join(", "));
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    if !r.stream_aborts.is_empty() {
        o.push_str("<h3>Streams cut before their end</h3>\n");
        table_head(
            &mut o,
            &["Time", "Request", "Route", "Reason", "#Records sent"],
        );
        for a in &r.stream_aborts {
            o.push_str("<tr>");
            td(&mut o, &a.time);
            td(&mut o, &a.request_id);
            td(&mut o, &a.route);
            td(&mut o, &a.reason);
            tdn(&mut o, a.records);
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    if !r.revocations.is_empty() {
        o.push_str("<h3>Revocations</h3>\n");
        table_head(
            &mut o,
            &["Time", "Action", "Target", "Identity or reference", "By"],
        );
        for v in &r.revocations {
            o.push_str("<tr>");
            td(&mut o, &v.time);
            td(&mut o, &v.action);
            td(&mut o, &v.target);
            td(&mut o, &v.what);
            td(&mut o, opt(v.by.as_deref()));
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("</section>\n");

    // Identities.
    open_section(&mut o, "identities");
    table_head(
        &mut o,
        &[
            "Identity",
            "Roles",
            "#Requests",
            "#Refused",
            "#Records",
            "#Personal values",
            "#Of which unmasked",
        ],
    );
    for i in &r.top_identities {
        o.push_str("<tr>");
        if i.subject == "-" {
            td(&mut o, "- (no valid identity)");
        } else {
            td(&mut o, &i.subject);
        }
        td(&mut o, &i.roles.join(", "));
        tdn(&mut o, i.requests);
        tdn(&mut o, i.denied);
        tdn(&mut o, i.records);
        tdn(&mut o, i.pii_values);
        tdn(&mut o, i.unmasked);
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n</section>\n");

    // Inventory.
    open_section(&mut o, "inventory");
    match &r.inventory {
        None => o.push_str(
            "<p class=\"muted\">No inventory given (<code>--inventory FILE</code>): coverage of the personal data actually found in responses is not shown.</p>\n",
        ),
        Some(inv) => {
            let _ = writeln!(
                o,
                "<p>From <code>{}</code>: {} of {} location(s) covered by a policy field; {:.1}% of the values seen are in covered locations.</p>",
                esc(&inv.file),
                inv.covered,
                inv.entries,
                inv.value_coverage_pct
            );
            if !inv.uncovered.is_empty() {
                o.push_str("<h3>Not covered</h3>\n");
                table_head(&mut o, &["Route", "Path", "PII type", "#Values seen"]);
                for e in &inv.uncovered {
                    o.push_str("<tr>");
                    td(&mut o, opt(e.route.as_deref()));
                    td(&mut o, opt(e.path.as_deref()));
                    td(&mut o, opt(e.pii_type.as_deref()));
                    tdn(&mut o, e.count);
                    o.push_str("</tr>\n");
                }
                o.push_str("</tbody></table>\n");
            }
        }
    }
    if !r.discoveries.is_empty() {
        let _ = writeln!(
            o,
            "<h3>First seen uncovered in the period</h3>\n<p class=\"small\">From the audit trail's discovery events: personal data a detector found where no policy field covers it (paths fold array indexes to <code>[]</code> and data-like keys to <code>*</code>; <code>privgate inventory --snippet</code> drafts the fields).</p>"
        );
        table_head(&mut o, &["First seen", "Route", "Path", "PII type"]);
        for d in &r.discoveries {
            o.push_str("<tr>");
            td(&mut o, &d.time);
            td(&mut o, &d.route);
            td(&mut o, &d.path);
            td(&mut o, &d.pii_type);
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("</section>\n");

    // Records of processing.
    open_section(&mut o, "processing");
    o.push_str("<p class=\"small\">In the manner of GB/T 35273-2020 §11.3 and GDPR Art. 30: for each role, the routes it may call, their purpose (the route's description in the policy) and the categories of personal information it receives, each with the de-identification technique applied.</p>\n");
    let descs: BTreeMap<&str, Option<&str>> = r
        .policy
        .routes
        .iter()
        .map(|x| (x.name.as_str(), x.description.as_deref()))
        .collect();
    for role in &r.policy.roles {
        let rows: Vec<_> = r.processing.iter().filter(|x| &x.role == role).collect();
        let _ = writeln!(o, "<h3>Role: {}</h3>", esc(role));
        if rows.is_empty() {
            o.push_str("<p class=\"muted\">No route allows this role.</p>\n");
            continue;
        }
        table_head(
            &mut o,
            &["Route", "Purpose", "Categories received, by technique"],
        );
        let mut routes: Vec<&str> = Vec::new();
        for x in &rows {
            if !routes.contains(&x.route.as_str()) {
                routes.push(&x.route);
            }
        }
        for route in routes {
            o.push_str("<tr>");
            td(&mut o, route);
            td(&mut o, descs.get(route).copied().flatten().unwrap_or("-"));
            let mut by_op: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for x in rows.iter().filter(|x| x.route == route) {
                by_op
                    .entry(x.operator.as_str())
                    .or_default()
                    .push(format!("{} ({}, {})", x.field, x.pii_type, x.level));
            }
            o.push_str("<td>");
            for (op, fields) in by_op {
                let _ = write!(
                    o,
                    "<strong>{}</strong> – {}: {}<br>",
                    esc(op),
                    esc(technique(op)),
                    esc(&fields.join(", "))
                );
            }
            o.push_str("</td></tr>\n");
        }
        o.push_str("</tbody></table>\n");
    }
    o.push_str("</section>\n");

    // Controls.
    open_section(&mut o, "controls");
    table_head(
        &mut o,
        &["Reference", "Measure", "Evidence from privgate", "Status"],
    );
    for c in &r.controls {
        o.push_str("<tr>");
        td(&mut o, &c.reference);
        td(&mut o, &c.measure);
        td(&mut o, &c.evidence);
        let _ = write!(o, "<td>{}</td>", mark(c.status));
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n</section>\n");

    // Policy.
    open_section(&mut o, "policy");
    let _ = writeln!(
        o,
        "<p>Policy <code>{}</code>: {} file(s), hash <code>{}</code>; levels {}.</p>",
        esc(&r.policy.dir),
        r.policy.files,
        esc(&r.policy.hash),
        esc(&r.policy.levels.join(" < "))
    );
    o.push_str("<h3>Routes</h3>\n");
    table_head(
        &mut o,
        &[
            "Route",
            "Request",
            "Allowed roles",
            "Controls",
            "Description",
        ],
    );
    for x in &r.policy.routes {
        o.push_str("<tr>");
        td(&mut o, &x.name);
        td(&mut o, &x.request);
        td(&mut o, &x.allow.join(", "));
        let mut ctl = Vec::new();
        if x.export {
            ctl.push(if x.approval_required {
                "export, approval required"
            } else {
                "export"
            });
        }
        if x.step_up {
            ctl.push("step-up");
        }
        td(&mut o, &ctl.join("; "));
        td(&mut o, opt(x.description.as_deref()));
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n<h3>Field catalogue</h3>\n");
    table_head(&mut o, &["Field", "PII type", "Level", "Description"]);
    for f in &r.policy.fields {
        o.push_str("<tr>");
        td(&mut o, &f.name);
        td(&mut o, &f.pii_type);
        td(&mut o, &f.level);
        td(&mut o, opt(f.description.as_deref()));
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n</section>\n</main>\n</body>\n</html>\n");
    o
}
