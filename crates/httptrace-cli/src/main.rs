//! `httptrace`: trace an HTTP request hook by hook, the way Go's `net/http/httptrace` sees it.
//!
//! - default: a per-request summary (status line, connection facts, phases in milliseconds);
//! - `--events ndjson`: one JSON object per Go hook plus one `result` per request, in call
//!   order (the contract the conformance runner checks against Go); `--events ndjson-all` adds
//!   httptrace's beyond-Go events;
//! - `--json`: one JSON summary per request;
//! - `httptrace demo`: a tour of every hook against local servers.
//!
//! Exit codes: 0 success, 1 a request failed (or a local error), 2 bad arguments.

mod args;
mod demo;
mod events;
mod hooks;
mod human;
mod run;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::run::Fail;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("httptrace: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match cli.command {
        Some(Command::Demo) => rt.block_on(demo::run()),
        None => match rt.block_on(run::main(cli.request)) {
            Ok(code) => code,
            Err(Fail::Usage(msg)) => {
                eprintln!("httptrace: {msg}");
                eprintln!("Try 'httptrace --help' for more information.");
                2
            }
            Err(Fail::Runtime(msg)) => {
                eprintln!("httptrace: {msg}");
                1
            }
        },
    };
    // Do not wait for tasks still running in the background (idle connection tasks, a losing
    // dial): the results are printed.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    ExitCode::from(code)
}
