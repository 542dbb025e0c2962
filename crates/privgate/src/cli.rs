//! The command line: clap's types for every command, their help and examples.
//!
//! This module only describes arguments; it runs nothing. Each command is carried out by
//! its own module (`policy_cmd.rs` for `privgate policy …`, `mask_cmd.rs` for
//! `privgate mask`), and `main.rs` maps their outcome to an exit code: 0 success, 1 a
//! failed check, test or masking run, 2 a usage error (clap's own, or a [`UsageError`]
//! raised by a command's own validation).

use std::fmt;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use privgate_mask::Format;

/// privgate: a privacy gateway for legacy booking systems.
#[derive(Debug, Parser)]
#[command(
    name = "privgate",
    version,
    about = "A privacy gateway: role-based masking of personal data, by policy.",
    after_help = "\
Examples:
  privgate demo
  privgate run --config gateway.yaml
  privgate run --config gateway.yaml --check
  privgate policy check policies/clinic
  privgate policy test policies/clinic
  privgate policy explain policies/clinic --role receptionist --route appointment-list
  privgate mask --policy policies/clinic --role receptionist --route appointment-list \\
      appointments.ndjson -o masked.ndjson
  privgate inventory --admin http://127.0.0.1:9901 --token-file admin.token --uncovered

Exit codes: 0 success, 1 a failed check, test or masking run, 2 a usage error."
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check, test, explain and describe policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Mask a JSON, NDJSON or CSV file offline with a role's view of a route (test data).
    Mask(MaskArgs),
    /// Run the gateway: a streaming reverse proxy that identifies callers, denies by
    /// default and masks responses by role.
    #[command(after_help = "\
Prints `listening on http://ADDR` on stdout once the listener is bound (and `listening on
https://ADDR`, `admin on http://ADDR` for the `tls:` and `admin:` listeners); logs go to
stderr. SIGTERM or Ctrl-C drains in-flight requests, then exits. SIGHUP reloads the policy.
Every key of the config file: docs/configuration.md.

With --check, loads the config, the files it names and the policy directory, prints every
problem (exit 1) or `config ok: …` (exit 0), and starts nothing.

Callers are identified by the config's `identity:` section (at least one source; paths are
relative to the config file). An API key is tried first, then a bearer JWT, then trusted
headers; a missing credential or a refused one answers 401 with a WWW-Authenticate
challenge. Credentials are never forwarded: the upstream gets `forward_identity` headers.

  identity:
    jwt:                        # Authorization: Bearer <JWT> (RS256, ES256, EdDSA)
      jwks_file: jwks.json
      issuer: https://idp.example
      audience: privgate
      roles_claim: roles        # default; e.g. realm_access.roles
      # hs256_secret_file: hs256.secret   # HS256 only with a secret (>= 32 bytes)
    api_keys:                   # X-Api-Key: <key> or Authorization: ApiKey <key>
      file: api-keys.txt        # `<sha256 hex of key>  <subject>  <role1,role2>` a line
    trusted_headers:            # X-Forwarded-User / X-Forwarded-Groups from an auth proxy
      trusted_cidrs: [10.0.0.5/32]

Examples:
  privgate run --config gateway.yaml
  privgate run --config /etc/privgate/gateway.yaml --check")]
    Run(RunArgs),
    /// Try the gateway: the example clinic upstream behind privgate with `policies/clinic`,
    /// throwaway keys, and a curl line with a token for each role.
    #[command(after_help = "\
Starts `legacy-booking` (the example upstream, found next to this binary; build it with
`cargo build -p legacy-booking`) and the gateway in front of it, with keys, a JWKS and a
config made for this run in a temporary directory. Prints curl lines with a bearer token
for receptionist, doctor, auditor and data-exporter: the tokens are throwaway and printed
on purpose. Ctrl-C (or SIGTERM) stops both and removes the temporary directory.

Example:
  cargo build -p privgate -p legacy-booking && target/debug/privgate demo")]
    Demo(DemoArgs),
    /// Verify, read and repair the tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a compliance report (HTML or JSON) from the audit trail and the policy.
    #[command(after_help = crate::report::AFTER_HELP)]
    Report(crate::report::ReportArgs),
    /// Name the account a leaked file was served to, from the pseudonyms that operators
    /// with `scope: identity` wrote into it.
    #[command(after_help = crate::trace_cmd::AFTER_HELP)]
    Trace(crate::trace_cmd::TraceArgs),
    /// Show the data inventory: which routes serve which personal data where, and
    /// whether a policy field covers it; or write catalogue entries for what is uncovered.
    Inventory(InventoryArgs),
}

/// `privgate audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the chain of one or more trail files: reports the first edited, deleted,
    /// inserted, reordered or truncated event (exit 1), or `chain intact: N events`.
    #[command(after_help = "\
Files may be given in any order (rotated segments and the active one); they are put in
chain order by their first sequence number. Keys come from --key (repeatable, one per key
id the trail was written with) or from a gateway config's `audit.keys` (--config).

Examples:
  privgate audit verify --config /etc/privgate/gateway.yaml /var/lib/privgate/audit/*.jsonl
  privgate audit verify --key k1=audit-k1.key --key k2=audit-k2.key audit-*.jsonl audit.jsonl")]
    Verify(AuditVerifyArgs),
    /// Print the last events of a trail file, one readable line each.
    Tail(AuditTailArgs),
    /// Cut a torn last line (left by a crash mid-write) from a trail file, keeping it
    /// aside; complete events are never touched.
    Repair(AuditRepairArgs),
    /// Print a new random chain key as hex, for an `audit.keys` file.
    Keygen,
}

/// Arguments of `privgate audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// A chain key as `ID=FILE` (the file holds the key as hex); repeatable.
    #[arg(long = "key", value_name = "ID=FILE")]
    pub keys: Vec<String>,
    /// Take the keys from this gateway config's `audit.keys` instead.
    #[arg(long, value_name = "FILE", conflicts_with = "keys")]
    pub config: Option<PathBuf>,
    /// The trail must start at this `seq` (1 when retention never removed a segment).
    #[arg(long, value_name = "SEQ")]
    pub expect_first_seq: Option<u64>,
    /// The trail must reach at least this `seq`: a value seen outside the trail's own
    /// files (the `privgate_audit_last_seq` gauge in Prometheus, the last `seq` in the
    /// SIEM's copy). Without it, a tail removed on a line boundary cannot be told from a
    /// trail that simply ends there.
    #[arg(long, value_name = "SEQ")]
    pub expect_last_seq: Option<u64>,
    /// The trail files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Arguments of `privgate audit tail`.
#[derive(Debug, Args)]
pub struct AuditTailArgs {
    /// How many events.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub lines: usize,
    /// The trail file.
    pub file: PathBuf,
}

/// Arguments of `privgate audit repair`.
#[derive(Debug, Args)]
pub struct AuditRepairArgs {
    /// The trail file (the active segment).
    pub file: PathBuf,
}

/// Arguments of `privgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The gateway's address; when its port is busy, a free port is used instead.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The policy directory.
    #[arg(long, value_name = "DIR", default_value = "policies/clinic")]
    pub policy: PathBuf,
    /// The `legacy-booking` binary; by default the one next to this executable.
    #[arg(long, value_name = "PATH")]
    pub upstream_bin: Option<PathBuf>,
}

/// Arguments of `privgate run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The gateway's config file (YAML).
    #[arg(long, value_name = "PATH")]
    pub config: PathBuf,
    /// Check the config, the files it names and the policy, then exit without serving.
    #[arg(long)]
    pub check: bool,
}

/// `privgate policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load a policy directory and report every problem, located in its file.
    #[command(after_help = "\
Prints the same diagnostics the gateway prints at start, warnings included, then one
summary line (files, levels, fields, roles, routes and the policy hash).

Examples:
  privgate policy check policies/clinic
  privgate policy check policies/clinic && git commit -m 'clinic: receptionists see birth years'")]
    Check(CheckArgs),
    /// Run the `*.tests.yaml` cases of a policy directory.
    #[command(after_help = "\
Each case names a role and a route (or a method and path), and either a body with the
masked output expected or the expected decision. Prints `ok` or `FAILED` per case, the diff
of each failure, and `N passed, M failed`. `hash` and `tokenize` use fixed, public check
keys so expected outputs are stable.

Example:
  privgate policy test policies/clinic")]
    Test(TestArgs),
    /// Show what a role sees of each field on a route, and why.
    #[command(after_help = "\
Name the route, or give the request as the gateway would see it (method, path, query):
the matching route, its path parameters and the role's decision are printed first.

Examples:
  privgate policy explain policies/clinic --role receptionist --route appointment-list
  privgate policy explain policies/clinic --role doctor --method GET \\
      --path /api/appointments/export --query format=csv")]
    Explain(ExplainArgs),
    /// Print the JSON Schema of policy files (or of policy tests files).
    #[command(after_help = "\
Examples:
  privgate policy schema > policy.schema.json
  privgate policy schema --tests > policy-tests.schema.json")]
    Schema(SchemaArgs),
}

/// Arguments of `privgate policy check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy directory (every `*.yaml` / `*.yml` file but `*.tests.yaml`).
    pub dir: PathBuf,
}

/// Arguments of `privgate policy test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The policy directory, holding the policy files and their `*.tests.yaml` files.
    pub dir: PathBuf,
}

/// Which route a command is about: by name, or by the request that would reach it.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RouteChoice {
    /// The route, by name.
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,
    /// The request path (e.g. `/api/patients/42`); the first matching route is used.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
}

/// Arguments of `privgate policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The policy directory.
    pub dir: PathBuf,
    /// The role to explain.
    #[arg(long)]
    pub role: String,
    /// The route, by name or by request.
    #[command(flatten)]
    pub target: RouteChoice,
    /// The request method, with `--path`.
    #[arg(
        long,
        value_name = "M",
        default_value = "GET",
        conflicts_with = "route"
    )]
    pub method: String,
    /// A query parameter of the request, with `--path` (repeatable).
    #[arg(long = "query", value_name = "K=V", value_parser = parse_query, conflicts_with = "route")]
    pub query: Vec<(String, String)>,
}

/// Arguments of `privgate policy schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The schema of policy tests files (`*.tests.yaml`) instead.
    #[arg(long)]
    pub tests: bool,
}

/// A body format on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One JSON document.
    Json,
    /// One JSON document per line.
    Ndjson,
    /// CSV with a header row.
    Csv,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Json => Format::Json,
            FormatArg::Ndjson => Format::Ndjson,
            FormatArg::Csv => Format::Csv,
        }
    }
}

/// Arguments of `privgate mask`.
#[derive(Debug, Args)]
#[command(after_help = "\
The input streams through the masking engine in large chunks, so files of any size take
constant memory. With -o the output is written to a temporary file beside it and renamed
at the end: a failed run leaves no half-written file. A summary (records, values masked by
type and operator, detections, bytes, throughput) goes to stderr.

`hash` and `tokenize` need real keys, read from files holding hex digits (never given on
the command line), e.g. made with `openssl rand -hex 32`:
  --hash-key-file PATH                      (or PRIVGATE_HASH_KEY_FILE)
  --token-key-file PATH --token-key-id ID   (or PRIVGATE_TOKEN_KEY_FILE, PRIVGATE_TOKEN_KEY_ID)

Examples:
  privgate mask --policy policies/clinic --role receptionist --route appointment-list \\
      appointments.json -o appointments.masked.json
  privgate mask --policy policies/clinic --role auditor --path /api/patients/42 \\
      --format ndjson --hash-key-file /etc/privgate/hash.key < patients.ndjson > masked.ndjson")]
pub struct MaskArgs {
    /// The policy directory.
    #[arg(long, value_name = "DIR")]
    pub policy: PathBuf,
    /// The role whose view is written.
    #[arg(long)]
    pub role: String,
    /// The route, by name or by request path.
    #[command(flatten)]
    pub target: RouteChoice,
    /// The request method, with `--path`.
    #[arg(
        long,
        value_name = "M",
        default_value = "GET",
        conflicts_with = "route"
    )]
    pub method: String,
    /// The input's format; by default taken from its extension (`.json`, `.ndjson`,
    /// `.jsonl`, `.csv`).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// The input file; standard input when absent or `-`.
    pub input: Option<PathBuf>,
    /// The output file; standard output when absent or `-`.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,
    /// A file holding the `hash` key as hex digits (at least 16 bytes).
    #[arg(long, value_name = "PATH")]
    pub hash_key_file: Option<PathBuf>,
    /// A file holding a `tokenize` key as hex digits (32 bytes).
    #[arg(long, value_name = "PATH")]
    pub token_key_file: Option<PathBuf>,
    /// The id the `tokenize` key is known by (`[A-Za-z0-9-]{1,32}`).
    #[arg(long, value_name = "ID")]
    pub token_key_id: Option<String>,
    /// The account the output is for: operators with `scope: identity` write pseudonyms
    /// unique to it. Required when the role's plan has such operators.
    #[arg(long, value_name = "ID")]
    pub recipient: Option<String>,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Output format of `privgate inventory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InventoryFormat {
    /// An aligned table and a summary line.
    Table,
    /// The (filtered) snapshot, as the gateway serves it.
    Json,
}

/// Arguments of `privgate inventory`.
#[derive(Debug, Args)]
#[command(after_help = "\
Reads the inventory the gateway keeps when `discovery:` is on: from its file
(`discovery.file`) or from the running gateway's admin listener (`GET /admin/inventory`,
with the admin token). Several files and --admin URLs (one per replica) are merged into
one inventory: counts add up, first and last sightings span them all. Paths never hold
values: `[]` is any array element, `*` a key that looked like data (`$.by_phone.*.name`),
`$[].col` a CSV column.

The table lists uncovered entries first (personal data no policy field names: callers
get it masked only if the policy's `unknown_fields` detectors catch it), then covered
ones, then a summary: entries, value coverage, bodies surveyed, sample rate.

--snippet writes a `fields:` catalogue entry for each uncovered (key name, type) instead,
with the entry's selectors across routes; review the names, paste the entries under the
policy's `fields:` (or keep the snippet as a file of the policy directory) and run
`privgate policy check`. With --policy the level is the highest level of the policy's
fields of the same type (else the highest level); without, a placeholder to fill in.

Examples:
  privgate inventory /var/lib/privgate/inventory.json
  privgate inventory --admin http://127.0.0.1:9901 --token-file /etc/privgate/admin.token
  privgate inventory inventory.json --uncovered --route appointment-list
  privgate inventory inventory.json --format json > inventory.filtered.json
  privgate inventory --admin http://10.0.0.11:9901 --admin http://10.0.0.12:9901 \\
      --token-file admin.token --format json > inventory.json
  privgate inventory inventory.json --snippet --policy policies/clinic > discovered.yaml")]
#[command(group(ArgGroup::new("source").required(true).multiple(true).args(["file", "admin"])))]
pub struct InventoryArgs {
    /// Snapshot files, as the gateway persists them (`discovery.file`); several are
    /// merged.
    #[arg(value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// A gateway's admin listener, e.g. `http://127.0.0.1:9901`: reads `/admin/inventory`;
    /// repeatable (one per replica), merged with any files.
    #[arg(long, value_name = "URL")]
    pub admin: Vec<String>,
    /// A file holding the admin token (the gateway config's `admin.token_file`).
    #[arg(long, value_name = "FILE", requires = "admin")]
    pub token_file: Option<PathBuf>,
    /// Only entries no policy field covers.
    #[arg(long)]
    pub uncovered: bool,
    /// Only this route's entries.
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = InventoryFormat::Table, conflicts_with = "snippet")]
    pub format: InventoryFormat,
    /// Print `fields:` catalogue entries (YAML) for the uncovered entries instead.
    #[arg(long)]
    pub snippet: bool,
    /// The policy directory the snippet is for: its levels and existing field names.
    #[arg(long, value_name = "DIR", requires = "snippet")]
    pub policy: Option<PathBuf>,
}

fn parse_query(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not of the form `key=value`")),
    }
}

/// A usage problem found by a command's own validation (exit code 2, as clap's own).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn query_pairs_need_an_equals_sign() {
        assert_eq!(parse_query("a=b"), Ok(("a".into(), "b".into())));
        assert_eq!(parse_query("a="), Ok(("a".into(), String::new())));
        assert!(parse_query("ab").is_err());
        assert!(parse_query("=b").is_err());
    }
}
