//! `kubectl-kairos`, the kubectl plugin of the Kairos operator (`kubectl kairos ...`): parses the
//! command line and runs it; the commands' I/O is in `run`, what they compute and print in the
//! pure modules beside it.

mod cli;
mod client;
mod logs;
mod run;
mod selector;
mod status;
mod table;
mod target;
mod upgrade;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run::run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "the last word of a failed command")]
            {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
