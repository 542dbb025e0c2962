//! `privgate mask`: masks a JSON, NDJSON or CSV file offline with a role's plan for a
//! route, for test-data de-identification.
//!
//! The input streams through the engine (`privgate_mask::Masker`) in 256 KiB reads and
//! the output is written as it comes, so memory stays flat whatever the file's size. An
//! output file is written under a temporary name in its directory and renamed only when
//! the whole input masked cleanly; on any error the temporary is removed, so a failed run
//! never leaves a half-masked file that looks complete. Engine errors carry a byte offset
//! and a path, never body data, and are printed with the input's name. Keys come from
//! `keys.rs`, the role and route from `target.rs`, the progress bar from `progress.rs`.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use privgate_mask::{Format, Masker, Stats};
use privgate_policy::{Policy, PolicyError};

use crate::cli::{MaskArgs, UsageError};
use crate::keys;
use crate::policy_cmd::print_diagnostics;
use crate::progress::Progress;
use crate::target;

/// Bytes read per `feed`.
const READ_SIZE: usize = 256 * 1024;

/// Runs `privgate mask`.
pub fn run(args: &MaskArgs) -> Result<ExitCode> {
    let input = args.input.as_ref().filter(|p| p.as_os_str() != "-");
    let output = args.output.as_ref().filter(|p| p.as_os_str() != "-");
    let format = format_of(args, input)?;
    let secrets = keys::secrets(args)?;
    let policy = match Policy::load(&args.policy, secrets) {
        Ok(p) => p,
        Err(PolicyError::Invalid(diags)) => {
            print_diagnostics(&diags)?;
            return Err(missing_key_hint(&diags).unwrap_or_else(|| {
                anyhow!("the policy in `{}` does not load", args.policy.display())
            }));
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot load the policy in `{}`", args.policy.display()))
        }
    };
    target::role(&policy, &args.role)?;
    let found = target::route(&policy, &args.target, &args.method, &[])?;
    let route = &found.route.name;
    let plan = policy.plan(&args.role, route).ok_or_else(|| {
        anyhow!(
            "role `{}` is not allowed on route `{route}`, so it sees nothing of its bodies",
            args.role
        )
    })?;

    let (reader, name, size): (Box<dyn Read>, String, Option<u64>) = match input {
        Some(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
            let size = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            (Box::new(file), path.display().to_string(), size)
        }
        None => (Box::new(io::stdin().lock()), "<stdin>".to_owned(), None),
    };
    let recipient = args.recipient.as_deref().filter(|r| !r.is_empty());
    let mut masker = match recipient {
        Some(r) => Masker::with_recipient(plan.clone(), format, r),
        None if plan.needs_recipient() => {
            return Err(UsageError(format!(
                "role `{}` on route `{route}` masks with `scope: identity`: pass --recipient ID \
                 (the account the output is for)",
                args.role
            ))
            .into())
        }
        None => Masker::new(plan.clone(), format),
    };
    let start = Instant::now();
    let mut progress = Progress::new(size, args.quiet);
    match output {
        Some(path) => {
            let mut temp = TempOutput::create(path)?;
            stream(reader, &name, &mut masker, temp.file(), &mut progress)?;
            temp.commit()?;
        }
        None => {
            let mut out = io::stdout().lock();
            stream(reader, &name, &mut masker, &mut out, &mut progress)?;
        }
    }
    progress.clear();
    if !args.quiet {
        let line = summary(masker.stats(), start.elapsed().as_secs_f64());
        let _ = writeln!(io::stderr().lock(), "{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The format from `--format`, else from the input's extension.
fn format_of(args: &MaskArgs, input: Option<&PathBuf>) -> Result<Format> {
    if let Some(f) = args.format {
        return Ok(f.into());
    }
    let Some(path) = input else {
        return Err(UsageError(
            "cannot tell the format of standard input: pass --format json|ndjson|csv".into(),
        )
        .into());
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("json") => Ok(Format::Json),
        Some("ndjson" | "jsonl") => Ok(Format::Ndjson),
        Some("csv") => Ok(Format::Csv),
        _ => Err(UsageError(format!(
            "cannot tell the format of `{}` from its extension (.json, .ndjson, .jsonl, .csv): \
             pass --format json|ndjson|csv",
            path.display()
        ))
        .into()),
    }
}

/// The error to give when the policy did not load for want of keys: names the options.
fn missing_key_hint(diags: &privgate_policy::Diagnostics) -> Option<anyhow::Error> {
    let missing = |op: &str| {
        diags
            .items()
            .iter()
            .any(|d| d.kind == "missing-key" && d.message.starts_with(&format!("`{op}`")))
    };
    let mut wanted = Vec::new();
    if missing("hash") {
        wanted.push(format!(
            "`hash` needs --hash-key-file PATH (or {})",
            keys::HASH_KEY_ENV
        ));
    }
    if missing("tokenize") {
        wanted.push(format!(
            "`tokenize` needs --token-key-file PATH --token-key-id ID (or {} and {})",
            keys::TOKEN_KEY_ENV,
            keys::TOKEN_KEY_ID_ENV
        ));
    }
    (!wanted.is_empty()).then(|| anyhow!("the policy needs keys: {}", wanted.join("; ")))
}

/// Feeds `reader` through `masker` into `out`, chunk by chunk.
fn stream(
    mut reader: impl Read,
    name: &str,
    masker: &mut Masker,
    out: &mut impl Write,
    progress: &mut Progress,
) -> Result<()> {
    let mut buf = vec![0u8; READ_SIZE];
    let mut masked = Vec::with_capacity(READ_SIZE + READ_SIZE / 4);
    let mut done = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read `{name}`")),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        masker
            .feed(chunk, &mut masked)
            .with_context(|| name.to_owned())?;
        out.write_all(&masked).context("cannot write the output")?;
        masked.clear();
        done += n as u64;
        progress.update(done);
    }
    masker
        .finish(&mut masked)
        .with_context(|| name.to_owned())?;
    out.write_all(&masked).context("cannot write the output")?;
    out.flush().context("cannot write the output")
}

/// One line: records, values by type and operator, detections, bytes, time and rate.
fn summary(stats: &Stats, secs: f64) -> String {
    let masked: Vec<String> = stats
        .masked_counts()
        .map(|(t, o, n)| format!("{t} {} {n}", o.as_str()))
        .collect();
    let detected: Vec<String> = stats
        .detected_counts()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    let mb = |b: u64| b as f64 / 1e6;
    format!(
        "masked {} records; values: {} ({}); detections: {}; {:.1} MB in, {:.1} MB out in {:.2} s ({:.1} MB/s)",
        stats.records,
        stats.values(),
        list(&masked),
        list(&detected),
        mb(stats.bytes_in),
        mb(stats.bytes_out),
        secs,
        mb(stats.bytes_in) / secs.max(1e-9)
    )
}

/// An output file written under a temporary name beside it, renamed on `commit` and
/// removed when dropped uncommitted.
#[derive(Debug)]
struct TempOutput {
    file: File,
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl TempOutput {
    fn create(target: &Path) -> Result<TempOutput> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let base = target
            .file_name()
            .ok_or_else(|| anyhow!("`{}` is not a file name", target.display()))?;
        let mut n = 0u32;
        loop {
            let mut name = OsString::from(".");
            name.push(base);
            name.push(format!(".privgate-{}-{n}.tmp", std::process::id()));
            let temp = dir.join(name);
            match File::options().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    return Ok(TempOutput {
                        file,
                        temp,
                        target: target.to_path_buf(),
                        committed: false,
                    })
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot create a temporary file in `{}`", dir.display())
                    })
                }
            }
        }
    }

    fn file(&mut self) -> &mut File {
        &mut self.file
    }

    fn commit(mut self) -> Result<()> {
        self.file
            .sync_data()
            .with_context(|| format!("cannot write `{}`", self.temp.display()))?;
        fs::rename(&self.temp, &self.target)
            .with_context(|| format!("cannot write `{}`", self.target.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}
