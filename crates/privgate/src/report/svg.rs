//! Hand-written SVG charts for the report: stacked bars and lines. No script, no external
//! asset; every label is escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::html::esc;

/// Colours for series, print-friendly.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// The colour of series `i`.
pub fn colour(i: usize) -> &'static str {
    PALETTE.get(i % PALETTE.len()).copied().unwrap_or("#444")
}

fn nice_max(v: u64) -> u64 {
    if v == 0 {
        return 1;
    }
    let mut step = 1u64;
    while step.saturating_mul(10) <= v {
        step = step.saturating_mul(10);
    }
    for m in [1, 2, 5, 10] {
        if step.saturating_mul(m) >= v {
            return step.saturating_mul(m);
        }
    }
    step.saturating_mul(10)
}

const W: f64 = 760.0;
const H: f64 = 260.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;

fn axes(out: &mut String, max: u64, title: &str) {
    let plot_h = H - TOP - BOTTOM;
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}"><title>{}</title>"#,
        esc(title),
        esc(title)
    );
    for i in 0..=4u64 {
        let v = max * i / 4;
        let y = TOP + plot_h - plot_h * (i as f64) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{v}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
}

fn legend(out: &mut String, series: &[String]) {
    for (i, s) in series.iter().enumerate() {
        let y = TOP + 4.0 + (i as f64) * 18.0;
        let x = W - RIGHT + 14.0;
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            colour(i),
            x + 18.0,
            y + 10.0,
            esc(s)
        );
    }
}

/// A stacked bar chart: one bar per category (x), one stacked segment per series.
/// `values[(category, series)]`.
pub fn stacked_bars(
    title: &str,
    categories: &[String],
    series: &[String],
    values: &BTreeMap<(String, String), u64>,
) -> String {
    let total = |c: &String| -> u64 {
        series
            .iter()
            .map(|s| values.get(&(c.clone(), s.clone())).copied().unwrap_or(0))
            .sum()
    };
    let max = nice_max(categories.iter().map(total).max().unwrap_or(0));
    let mut out = String::new();
    axes(&mut out, max, title);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = categories.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.7).min(60.0);
    for (ci, c) in categories.iter().enumerate() {
        let x = LEFT + slot * (ci as f64) + (slot - bar) / 2.0;
        let mut y = TOP + plot_h;
        for (si, s) in series.iter().enumerate() {
            let v = values.get(&(c.clone(), s.clone())).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let h = plot_h * (v as f64) / (max as f64);
            y -= h;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{}"><title>{}: {} {v}</title></rect>"#,
                colour(si),
                esc(c),
                esc(s)
            );
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            x + bar / 2.0,
            TOP + plot_h + 16.0,
            esc(&short_label(c))
        );
    }
    legend(&mut out, series);
    out.push_str("</svg>");
    out
}

/// A line chart: one line per series over the categories (x).
pub fn lines(
    title: &str,
    categories: &[String],
    series: &[String],
    values: &BTreeMap<(String, String), u64>,
) -> String {
    let max = nice_max(values.values().copied().max().unwrap_or(0));
    let mut out = String::new();
    axes(&mut out, max, title);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = categories.len().max(1) as f64;
    let slot = plot_w / n;
    let xy = |ci: usize, v: u64| {
        (
            LEFT + slot * (ci as f64) + slot / 2.0,
            TOP + plot_h - plot_h * (v as f64) / (max as f64),
        )
    };
    for (si, s) in series.iter().enumerate() {
        let points: Vec<String> = categories
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                let (x, y) = xy(
                    ci,
                    values.get(&(c.clone(), s.clone())).copied().unwrap_or(0),
                );
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            colour(si),
            points.join(" ")
        );
        for (ci, c) in categories.iter().enumerate() {
            let v = values.get(&(c.clone(), s.clone())).copied().unwrap_or(0);
            let (x, y) = xy(ci, v);
            let _ = write!(
                out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{}"><title>{}: {} {v}</title></circle>"#,
                colour(si),
                esc(c),
                esc(s)
            );
        }
    }
    for (ci, c) in categories.iter().enumerate() {
        let (x, _) = xy(ci, 0);
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            TOP + plot_h + 16.0,
            esc(&short_label(c))
        );
    }
    legend(&mut out, series);
    out.push_str("</svg>");
    out
}

/// A date `2026-11-23` as `11-23`; other labels as they are, cut to 14 characters.
fn short_label(s: &str) -> String {
    if s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') {
        return s.get(5..).unwrap_or(s).to_owned();
    }
    let mut t: String = s.chars().take(14).collect();
    if s.chars().count() > 14 {
        t.push('…');
    }
    t
}
