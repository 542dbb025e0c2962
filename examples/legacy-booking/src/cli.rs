//! The command line and startup: options, the database (a temporary file unless `--db`
//! names one), seeding an empty database, binding the listener and announcing its address
//! as the first line on stdout so that tests and `privgate demo` can read it. Serving is
//! `http.rs`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;

use crate::db::{self, Db};
use crate::routes::App;
use crate::seed::{self, Plan};

/// A small but honest legacy clinic booking system, for trying privgate against.
///
/// It serves fake patients and appointments from a SQLite database that it seeds
/// deterministically at start, with the quirks of an old PHP stack on purpose: `Server:
/// Apache/2.2.15` and `X-Powered-By: PHP/5.3.3` headers, ids that are sometimes strings
/// and sometimes numbers, phones sometimes sent as JSON numbers, gzip when asked, and
/// errors as `{"code":404,"msg":"not found"}`. All personal data is made up.
///
/// The first line on stdout is `listening on http://ADDR`.
///
/// Endpoints:
///   GET  /api/appointments?page=1&page_size=20       paged list (page_size at most 100)
///   GET  /api/appointments/{id}                       one appointment (A20240601001 or 1042)
///   POST /api/appointments                            book (JSON form, answers 201; doctorId 1-36)
///   GET  /api/appointments/export?format=csv&limit=N  streamed export: json, ndjson or csv
///   GET  /api/patients/{id}                           a patient (P000123) and their visits
///   GET  /api/patients/search?q=张                    patients by name or phone prefix
///
/// Example:
///   legacy-booking --listen 127.0.0.1:8081 &
///   curl -s 'http://127.0.0.1:8081/api/appointments?page_size=2'
///   curl -s --compressed 'http://127.0.0.1:8081/api/appointments/export?format=csv&limit=5'
///   curl -s -X POST http://127.0.0.1:8081/api/appointments -d '{"doctorId":1,
///     "time":"2024-06-01T09:30:00+08:00","patient":{"name":"张三","phone":"13812345678",
///     "idCard":"110101199003071233","birthDate":"1990-03-07"}}'
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (read it from the first stdout line).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// SQLite database file. An empty or new file is seeded; one that holds data is used as
    /// it is. Without this option a temporary database is created and removed at exit.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,

    /// Seed of the fake data: the same seed gives the same patients and appointments.
    #[arg(long, default_value_t = 20_240_601)]
    seed: u64,

    /// Number of patients to seed.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    patients: u64,

    /// Number of appointments to seed, spread over 2023 and 2024.
    #[arg(long, default_value_t = 10_000)]
    appointments: u64,
}

/// Opens or seeds the database, binds, announces the address and serves until Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let (path, _temporary) = match &args.db {
        Some(path) => (path.clone(), None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("legacy-booking-")
                .tempdir()
                .context("creating a temporary directory for the database")?;
            (dir.path().join("booking.sqlite"), Some(dir))
        }
    };
    let db = Db::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let plan = Plan {
        seed: args.seed,
        patients: args.patients,
        appointments: args.appointments,
    };
    let started = Instant::now();
    let seeded = db
        .with(|conn| {
            if db::is_seeded(conn)? {
                Ok(false)
            } else {
                seed::seed(conn, plan).map(|()| true)
            }
        })
        .context("seeding the database")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);
    let note = if seeded {
        format!(
            "seeded {} patients and {} appointments (seed {}) in {:.1} s",
            plan.patients,
            plan.appointments,
            plan.seed,
            started.elapsed().as_secs_f64()
        )
    } else {
        "using the data already in the database".to_owned()
    };
    let _ = writeln!(std::io::stderr(), "legacy-booking: {note}; Ctrl-C stops");
    let app = Arc::new(App { db: Arc::new(db) });
    crate::http::serve(listener, app).await?;
    Ok(())
}
