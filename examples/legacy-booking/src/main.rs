//! `legacy-booking`: a small but honest legacy clinic booking upstream for privgate's demo
//! and integration tests. It depends on nothing in `crates/`: the gateway treats it as a
//! black box. `cli.rs` starts it; `seed.rs` and `fake.rs` make the data; `db.rs` holds the
//! SQLite schema and queries; `records.rs` the JSON shapes; `http.rs`, `routes.rs`,
//! `booking.rs` and `export.rs` the HTTP side.

mod booking;
mod cli;
mod db;
mod export;
mod fake;
mod http;
mod records;
mod routes;
mod seed;

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    let args = cli::Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(cli::run(args));
    // An export still streaming at Ctrl-C must not hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}
