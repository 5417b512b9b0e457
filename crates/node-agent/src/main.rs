//! Entry point of `kairos-node-agent`: parses the command line and runs it on a single-threaded
//! runtime (the agent does one thing at a time; one thread keeps its memory small).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kairos_node_agent::Cli::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(cli.run()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "the last word of a failed process")]
            {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
