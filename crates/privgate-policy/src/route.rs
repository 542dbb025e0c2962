//! Routes as the gateway uses them: matching data, export controls, step-up demands and
//! rate limits.
//!
//! A [`Route`] is validated: its path template is parsed into segments, its durations,
//! quota and rates into numbers. [`Route::matches`] is what the proxy asks of each route for
//! each request. The parsing helpers here report *what was expected* and a byte offset;
//! the check stage (`check.rs`) turns that into a located diagnostic. Masking plans for a
//! route live in the compiled [`crate::Policy`].

use std::sync::Arc;
use std::time::Duration;

use privgate_mask::Format;

/// A route of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route's name.
    pub name: String,
    /// Methods it matches (upper case).
    pub methods: Vec<String>,
    /// The path template.
    pub path: PathTemplate,
    /// Query parameters that must be present with these values.
    pub query: Vec<(String, String)>,
    /// Roles allowed to call it.
    pub allow: Vec<String>,
    /// Where records are in a JSON body.
    pub records: Option<String>,
    /// Body formats served.
    pub formats: Vec<Format>,
    /// Export controls, if it is an export route.
    pub export: Option<Export>,
    /// Step-up demand, if any.
    pub step_up: Option<StepUp>,
    /// Request rate limits, if any.
    pub rate_limit: Option<RateLimits>,
    /// What happens to responses of other content types than `formats`.
    pub other_content: OtherContent,
    /// Request inspection (`detect` with threshold 5 when the route sets none).
    pub inspect: Inspect,
    /// Collection minimisation of JSON request bodies, if any.
    pub accept: Option<Arc<Accept>>,
}

/// How a route's requests are inspected for attacks ("virtual patching").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspect {
    /// Block, only detect, or skip.
    pub mode: InspectMode,
    /// The anomaly score at which a request is blocked.
    pub threshold: u32,
    /// Whether a body larger than the inspected prefix is refused (in `block` mode).
    pub oversize: Oversize,
}

impl Default for Inspect {
    fn default() -> Self {
        Inspect {
            mode: InspectMode::Detect,
            threshold: 5,
            oversize: Oversize::Block,
        }
    }
}

/// What inspection does with a request that reaches the threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InspectMode {
    /// Refuse it (403 `request-blocked`).
    Block,
    /// Count and log it; serve it.
    #[default]
    Detect,
    /// Do not inspect.
    Off,
}

/// What happens to a body larger than the inspected prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Oversize {
    /// Refuse it (413).
    #[default]
    Block,
    /// Inspect the prefix, forward the rest unread.
    Pass,
}

/// Collection minimisation: the members a JSON request body may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    /// The accepted paths, as written.
    pub fields: Vec<String>,
    /// The accepted paths as a tree.
    pub tree: AcceptNode,
    /// Strip or refuse what is not accepted.
    pub extra: Extra,
}

/// What happens to members an [`Accept`] does not list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Extra {
    /// They are removed from the body.
    #[default]
    Strip,
    /// The request is refused (422 with their paths).
    Reject,
}

/// One step of an accepted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Member(String),
    /// Every element of an array.
    Each,
}

/// A node of the accepted-paths tree: everything under it, or some members and elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptNode {
    /// A path ends here: the whole value is accepted.
    pub all: bool,
    /// Accepted members of an object here.
    pub members: std::collections::BTreeMap<String, AcceptNode>,
    /// What is accepted of each element of an array here.
    pub each: Option<Box<AcceptNode>>,
}

impl AcceptNode {
    /// Adds one parsed path.
    pub fn insert(&mut self, steps: &[Step]) {
        let Some((first, rest)) = steps.split_first() else {
            self.all = true;
            return;
        };
        let next = match first {
            Step::Member(m) => self.members.entry(m.clone()).or_default(),
            Step::Each => self.each.get_or_insert_with(Box::default),
        };
        next.insert(rest);
    }
}

/// Parses an accepted path: `$` then steps `.name` (letters, digits, `_`, `-`, `$`, or
/// any non-ASCII), `['name']` (any text but `'`) or `[*]`.
pub fn parse_accept_path(s: &str) -> Result<Vec<Step>, ParseProblem> {
    let Some(mut rest) = s.strip_prefix('$') else {
        return Err(problem(0, "a path starting with `$`"));
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let offset = s.len() - rest.len();
        if let Some(r) = rest.strip_prefix("[*]") {
            steps.push(Step::Each);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("['") {
            let Some(end) = r.find("']") else {
                return Err(problem(offset, "a quoted name closed by `']`"));
            };
            if end == 0 {
                return Err(problem(offset + 2, "a non-empty name"));
            }
            steps.push(Step::Member(r[..end].to_owned()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('.') {
            if r.starts_with('.') {
                return Err(problem(
                    offset,
                    "`.name`, `['name']` or `[*]` (no `..`: an accepted path is exact)",
                ));
            }
            let len = r
                .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '$')))
                .unwrap_or(r.len());
            if len == 0 {
                return Err(problem(offset + 1, "a member name (or `['name']`)"));
            }
            steps.push(Step::Member(r[..len].to_owned()));
            rest = &r[len..];
        } else {
            return Err(problem(offset, "`.name`, `['name']` or `[*]`"));
        }
    }
    Ok(steps)
}

/// `other_content`: the treatment of a response whose content type is none of `formats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OtherContent {
    /// Refused with 502 (the default).
    #[default]
    Block,
    /// Streamed unread.
    Pass,
    /// `text/*` bodies streamed line by line through every detector, each finding
    /// redacted; any other type refused.
    Detect,
}

/// Whether a control is enforced, or only computed and reported ("would deny") so a
/// policy can be rolled out safely.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Refuse what the control refuses.
    #[default]
    Enforce,
    /// Count and audit what would be refused; refuse nothing.
    Shadow,
}

/// A request rate: `count` requests per `per` (`60/min`, `10/1s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed per period (also the burst).
    pub count: u64,
    /// The period.
    pub per: Duration,
}

/// Request rate limits of a route (GCRA: `count` per period, bursts up to `count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Per calling identity (its subject).
    pub per_identity: Option<Rate>,
    /// Per role served, all identities together.
    pub per_role: Option<Rate>,
    /// For the route, all callers together.
    pub per_route: Option<Rate>,
    /// Enforced or shadow.
    pub mode: Mode,
}

/// Controls of an export route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Whether an export waits for another person's approval.
    pub approval_required: bool,
    /// Most records one export may return.
    pub max_records: Option<u64>,
    /// Records one identity may export per window.
    pub quota: Option<Quota>,
    /// Enforced or shadow (approval, record cap and quota together).
    pub mode: Mode,
}

/// A metered allowance: `records` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Records allowed per window.
    pub records: u64,
    /// The window.
    pub window: Duration,
}

/// A step-up demand (RFC 9470).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepUp {
    /// How recent the authentication must be.
    pub max_age: Duration,
    /// Acceptable `acr` values; empty means any.
    pub acr: Vec<String>,
    /// Enforced or shadow.
    pub mode: Mode,
}

/// A parsed path template such as `/api/appointments/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    /// The template as written.
    pub source: String,
    /// Its segments, after the leading `/`.
    pub segments: Vec<Segment>,
}

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// Matches any one non-empty segment and captures it under this name.
    Param(String),
}

/// Why a piece of policy text did not parse: what was expected, at which byte of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseProblem {
    /// Byte offset in the text.
    pub offset: usize,
    /// What was expected there.
    pub expected: &'static str,
}

fn problem(offset: usize, expected: &'static str) -> ParseProblem {
    ParseProblem { offset, expected }
}

/// HTTP methods a route may name.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl PathTemplate {
    /// Parses a template: `/` then segments separated by `/`, each either literal text
    /// (no `{`, `}`, `?`, `#`, `%` or space) or a whole `{name}` (`[A-Za-z_][A-Za-z0-9_]*`,
    /// unique in the template). `/` alone is the root. No empty segments.
    pub fn parse(source: &str) -> Result<PathTemplate, ParseProblem> {
        let Some(rest) = source.strip_prefix('/') else {
            return Err(problem(0, "a path starting with `/`"));
        };
        let mut segments = Vec::new();
        if rest.is_empty() {
            return Ok(PathTemplate {
                source: source.to_owned(),
                segments,
            });
        }
        let mut offset = 1;
        for seg in rest.split('/') {
            if seg.is_empty() {
                return Err(problem(offset, "a non-empty path segment"));
            }
            if let Some(inner) = seg.strip_prefix('{') {
                let Some(name) = inner.strip_suffix('}') else {
                    return Err(problem(offset, "a whole segment `{name}`"));
                };
                let valid = name.chars().enumerate().all(|(i, c)| {
                    c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                });
                if name.is_empty() || !valid {
                    return Err(problem(
                        offset + 1,
                        "a parameter name (letters, digits, `_`)",
                    ));
                }
                if segments
                    .iter()
                    .any(|s| s == &Segment::Param(name.to_owned()))
                {
                    return Err(problem(
                        offset + 1,
                        "a parameter name not used before in the path",
                    ));
                }
                segments.push(Segment::Param(name.to_owned()));
            } else if let Some(i) = seg.find(['{', '}', '?', '#', '%', ' ']) {
                return Err(problem(
                    offset + i,
                    "literal path text (no `{`, `}`, `?`, `#`, `%` or space; a parameter is a whole segment, a query goes under `query:`)",
                ));
            } else {
                segments.push(Segment::Literal(seg.to_owned()));
            }
            offset += seg.len() + 1;
        }
        Ok(PathTemplate {
            source: source.to_owned(),
            segments,
        })
    }

    /// How specific the template is: for each segment, whether it is a literal. Compared
    /// lexicographically, a literal beats a parameter and earlier segments count first.
    pub fn specificity(&self) -> Vec<bool> {
        self.segments
            .iter()
            .map(|s| matches!(s, Segment::Literal(_)))
            .collect()
    }

    /// Matches a normalised path (no query, no `//`, no dot segments) and returns the
    /// captured parameters.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let rest = path.strip_prefix('/')?;
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (seg, part) in self.segments.iter().zip(parts) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Param(name) if !part.is_empty() => {
                    params.push((name.clone(), part.to_owned()));
                }
                _ => return None,
            }
        }
        Some(params)
    }
}

impl Route {
    /// Whether a request matches: method, normalised path and query conditions. Returns
    /// the path parameters when it does.
    pub fn matches(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Option<Vec<(String, String)>> {
        if !self.methods.iter().any(|m| m == method) {
            return None;
        }
        let params = self.path.matches(path)?;
        let query_ok = self
            .query
            .iter()
            .all(|(k, v)| query.iter().any(|(qk, qv)| qk == k && qv == v));
        query_ok.then_some(params)
    }

    /// Whether the route is an export route.
    pub fn is_export(&self) -> bool {
        self.export.is_some()
    }
}

fn split_count(text: &str) -> (Option<u64>, &str, usize) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = text.split_at(digits);
    (num.parse().ok(), unit, digits)
}

/// Parses a duration: a positive count and a unit `s`, `m`, `h` or `d` (`30s`, `5m`).
pub fn parse_duration(text: &str) -> Result<Duration, ParseProblem> {
    let (count, unit, digits) = split_count(text);
    let Some(count) = count.filter(|c| *c > 0) else {
        return Err(problem(
            0,
            "a positive whole number followed by `s`, `m`, `h` or `d` (e.g. `5m`)",
        ));
    };
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(problem(digits, "a unit `s`, `m`, `h` or `d` (e.g. `5m`)")),
    };
    count
        .checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or(problem(0, "a duration that fits in 64 bits of seconds"))
}

/// Parses a quota `N/window`: the window a unit (`s`, `m`, `h`, `day`, `week`) with an
/// optional positive count (`50000/day`, `5000/1h`).
pub fn parse_quota(text: &str) -> Result<Quota, ParseProblem> {
    let Some((n, window)) = text.split_once('/') else {
        return Err(problem(0, "`N/window`, e.g. `50000/day` or `5000/1h`"));
    };
    let Some(records) = n.parse::<u64>().ok().filter(|r| *r > 0) else {
        return Err(problem(0, "a positive whole number of records before `/`"));
    };
    let base = n.len() + 1;
    let (count, unit, digits) = split_count(window);
    let count = if digits == 0 {
        Some(1)
    } else {
        count.filter(|c| *c > 0)
    };
    let Some(count) = count else {
        return Err(problem(base, "a positive window count"));
    };
    let secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "day" | "d" => 86_400,
        "week" | "w" => 604_800,
        _ => {
            return Err(problem(
                base + digits,
                "a window unit `s`, `m`, `h`, `day` or `week`",
            ))
        }
    };
    let window = count
        .checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or(problem(base, "a window that fits in 64 bits of seconds"))?;
    Ok(Quota { records, window })
}

/// Parses a rate `N/period`: the period a unit (`s` or `sec`, `m` or `min`, `h` or
/// `hour`, `day`) with an optional positive count (`60/min`, `10/1s`, `100/5min`,
/// `5000/day`).
pub fn parse_rate(text: &str) -> Result<Rate, ParseProblem> {
    let Some((n, period)) = text.split_once('/') else {
        return Err(problem(0, "`N/period`, e.g. `60/min` or `10/1s`"));
    };
    let Some(count) = n
        .parse::<u64>()
        .ok()
        .filter(|c| *c > 0 && n.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Err(problem(0, "a positive whole number of requests before `/`"));
    };
    let base = n.len() + 1;
    let (periods, unit, digits) = split_count(period);
    let periods = if digits == 0 {
        Some(1)
    } else {
        periods.filter(|c| *c > 0)
    };
    let Some(periods) = periods else {
        return Err(problem(base, "a positive period count"));
    };
    let secs: u64 = match unit {
        "s" | "sec" => 1,
        "m" | "min" => 60,
        "h" | "hour" => 3600,
        "day" => 86_400,
        _ => {
            return Err(problem(
                base + digits,
                "a period unit `s`, `sec`, `m`, `min`, `h`, `hour` or `day`",
            ))
        }
    };
    let per = periods
        .checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or(problem(base, "a period that fits in 64 bits of seconds"))?;
    Ok(Rate { count, per })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Route {
        Route {
            name: "r".into(),
            methods: vec!["GET".into()],
            path: PathTemplate::parse(path).unwrap(),
            query: vec![("format".into(), "csv".into())],
            allow: vec![],
            records: None,
            formats: vec![Format::Json],
            export: None,
            step_up: None,
            rate_limit: None,
            other_content: OtherContent::Block,
            inspect: Inspect::default(),
            accept: None,
        }
    }

    #[test]
    fn accepted_paths_parse() {
        assert_eq!(
            parse_accept_path("$.patient.name").unwrap(),
            vec![Step::Member("patient".into()), Step::Member("name".into())]
        );
        assert_eq!(
            parse_accept_path("$.items[*]['first name']").unwrap(),
            vec![
                Step::Member("items".into()),
                Step::Each,
                Step::Member("first name".into())
            ]
        );
        assert_eq!(parse_accept_path("$").unwrap(), vec![]);
        assert_eq!(parse_accept_path("patient").unwrap_err().offset, 0);
        assert_eq!(parse_accept_path("$..name").unwrap_err().offset, 1);
        assert_eq!(parse_accept_path("$.a.").unwrap_err().offset, 4);
        assert_eq!(parse_accept_path("$.a[0]").unwrap_err().offset, 3);
    }

    #[test]
    fn templates_match_literals_params_and_query() {
        let r = route("/api/appointments/{id}/notes");
        assert_eq!(
            r.matches(
                "GET",
                "/api/appointments/42/notes",
                &[("x", "1"), ("format", "csv")]
            ),
            Some(vec![("id".into(), "42".into())])
        );
        assert_eq!(
            r.matches("POST", "/api/appointments/42/notes", &[("format", "csv")]),
            None
        );
        assert_eq!(r.matches("GET", "/api/appointments/42/notes", &[]), None);
        assert_eq!(
            r.matches("GET", "/api/appointments/42/notes", &[("format", "json")]),
            None
        );
        assert_eq!(
            r.matches("GET", "/api/appointments//notes", &[("format", "csv")]),
            None
        );
        assert_eq!(
            r.matches("GET", "/api/appointments/42", &[("format", "csv")]),
            None
        );
        assert_eq!(
            r.matches("GET", "api/appointments/42/notes", &[("format", "csv")]),
            None
        );
        let root = route("/");
        assert_eq!(root.matches("GET", "/", &[("format", "csv")]), Some(vec![]));
        assert_eq!(root.matches("GET", "/x", &[("format", "csv")]), None);
    }

    #[test]
    fn bad_templates_say_where() {
        assert_eq!(PathTemplate::parse("api").unwrap_err().offset, 0);
        assert_eq!(PathTemplate::parse("/a//b").unwrap_err().offset, 3);
        assert_eq!(PathTemplate::parse("/a/{id").unwrap_err().offset, 3);
        assert_eq!(PathTemplate::parse("/a/{1d}").unwrap_err().offset, 4);
        assert_eq!(PathTemplate::parse("/a/{id}/{id}").unwrap_err().offset, 9);
        assert_eq!(PathTemplate::parse("/a/b?x=1").unwrap_err().offset, 4);
        assert!(PathTemplate::parse("/a/{id}/b_c-d.csv").is_ok());
    }

    #[test]
    fn durations_and_quotas() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5 minutes").unwrap_err().offset, 1);
        assert_eq!(parse_duration("m").unwrap_err().offset, 0);
        assert_eq!(parse_duration("0s").unwrap_err().offset, 0);
        assert!(parse_duration("99999999999999999999s").is_err());
        let q = parse_quota("50000/day").unwrap();
        assert_eq!((q.records, q.window), (50000, Duration::from_secs(86_400)));
        let q = parse_quota("5000/1h").unwrap();
        assert_eq!((q.records, q.window), (5000, Duration::from_secs(3600)));
        assert_eq!(parse_quota("5000").unwrap_err().offset, 0);
        assert_eq!(parse_quota("5000/fortnight").unwrap_err().offset, 5);
        assert_eq!(parse_quota("5000/0h").unwrap_err().offset, 5);
        assert_eq!(parse_quota("x/day").unwrap_err().offset, 0);
    }

    #[test]
    fn rates() {
        let rate = |count, secs| {
            Ok(Rate {
                count,
                per: Duration::from_secs(secs),
            })
        };
        assert_eq!(parse_rate("60/min"), rate(60, 60));
        assert_eq!(parse_rate("60/m"), rate(60, 60));
        assert_eq!(parse_rate("10/1s"), rate(10, 1));
        assert_eq!(parse_rate("10/sec"), rate(10, 1));
        assert_eq!(parse_rate("100/5min"), rate(100, 300));
        assert_eq!(parse_rate("1000/h"), rate(1000, 3600));
        assert_eq!(parse_rate("1000/2hour"), rate(1000, 7200));
        assert_eq!(parse_rate("5000/day"), rate(5000, 86_400));
        // What went wrong, and where.
        assert_eq!(parse_rate("60").unwrap_err().offset, 0);
        assert_eq!(parse_rate("0/min").unwrap_err().offset, 0);
        assert_eq!(parse_rate("+5/min").unwrap_err().offset, 0);
        assert_eq!(parse_rate("x/min").unwrap_err().offset, 0);
        assert_eq!(parse_rate("/min").unwrap_err().offset, 0);
        assert_eq!(parse_rate("99999999999999999999/s").unwrap_err().offset, 0);
        assert_eq!(parse_rate("60/minute").unwrap_err().offset, 3);
        assert_eq!(parse_rate("60/").unwrap_err().offset, 3);
        assert_eq!(parse_rate("60/ min").unwrap_err().offset, 3);
        assert_eq!(parse_rate("60/week").unwrap_err().offset, 3);
        assert_eq!(parse_rate("60/0s").unwrap_err().offset, 3);
        assert_eq!(parse_rate("60/5").unwrap_err().offset, 4);
        assert_eq!(parse_rate("600/10mins").unwrap_err().offset, 6);
        assert_eq!(parse_rate("1/99999999999999999999s").unwrap_err().offset, 2);
        assert_eq!(
            parse_rate("1/9999999999999999999day").unwrap_err().offset,
            2
        );
        assert_eq!(
            parse_rate("60/fortnight").unwrap_err().expected,
            "a period unit `s`, `sec`, `m`, `min`, `h`, `hour` or `day`"
        );
    }
}
