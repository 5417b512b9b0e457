//! Entry point of `kairos-operator`: parses the command line, runs it, and prints a failure as
//! one readable error chain.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the C library's allocator: it returns freed memory to the system, so the
/// memory of a burst (thousands of agents reporting at once after a restart) does not stay
/// resident once it has passed, and it is fast on the musl target the images are built for
/// (musl's own allocator is slow under many threads).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match kairos_operator::Cli::parse().run().await {
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
