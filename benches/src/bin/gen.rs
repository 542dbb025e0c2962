//! Writes a large seeded clinic file for end-to-end measurements of `privgate mask`.
//!
//! `gen --shape ndjson|csv --bytes N --seed S -o FILE` writes about N bytes (at least N,
//! at most one piece's last record more) of the same generated data the benches use,
//! piece by piece: each 8 MiB piece is generated from its own seed (S plus its index)
//! and written before the next is made, so memory stays at one piece whatever N is.
//! NDJSON pieces concatenate as they are; CSV pieces after the first lose their header
//! row. JSON is not offered: one document cannot be assembled from independent pieces
//! without rewriting their envelopes, and `mask-file.sh` measures NDJSON.
#![expect(
    clippy::print_stderr,
    reason = "usage and errors are this binary's output"
)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use privgate_benches::Shape;

const PIECE: usize = 8 * 1024 * 1024;
const USAGE: &str = "usage: gen --shape ndjson|csv --bytes N --seed S -o FILE";

struct Args {
    shape: Shape,
    bytes: u64,
    seed: u64,
    output: String,
}

fn parse() -> Result<Args, String> {
    let mut shape = None;
    let mut bytes = None;
    let mut seed = 0u64;
    let mut output = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--shape" => {
                shape = Some(match value()?.as_str() {
                    "ndjson" => Shape::Ndjson,
                    "csv" => Shape::Csv,
                    other => return Err(format!("unsupported shape `{other}` (ndjson or csv)")),
                })
            }
            "--bytes" => bytes = Some(value()?.parse().map_err(|e| format!("--bytes: {e}"))?),
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "-o" | "--output" => output = Some(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Args {
        shape: shape.ok_or("--shape is required")?,
        bytes: bytes.ok_or("--bytes is required")?,
        seed,
        output: output.ok_or("-o is required")?,
    })
}

fn write(args: &Args) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&args.output)?);
    let mut written = 0u64;
    let mut index = 0u64;
    while written < args.bytes {
        let want = (args.bytes - written).min(PIECE as u64) as usize;
        let piece = args.shape.generate(want, args.seed.wrapping_add(index));
        let body = match args.shape {
            Shape::Csv if index > 0 => piece
                .windows(2)
                .position(|w| w == b"\r\n")
                .and_then(|i| piece.get(i + 2..))
                .unwrap_or_default(),
            _ => &piece[..],
        };
        out.write_all(body)?;
        written += body.len() as u64;
        index += 1;
    }
    out.flush()?;
    Ok(written)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gen: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match write(&args) {
        Ok(n) => {
            eprintln!("gen: wrote {n} bytes to {}", args.output);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen: cannot write `{}`: {e}", args.output);
            ExitCode::FAILURE
        }
    }
}
