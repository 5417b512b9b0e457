//! The command line of `kubectl-kairos` (clap): kubectl's connection flags and the commands.
//! Declarations only: no I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// kubectl plugin for the Kairos operator: `kubectl kairos status`, `upgrade`, `pause`,
/// `resume`, `logs`.
#[derive(Debug, Parser)]
#[command(name = "kubectl-kairos", bin_name = "kubectl kairos", version)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) connection: Connection,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// kubectl's flags saying which cluster, user and namespace.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// Path to the kubeconfig file (default: `$KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, global = true)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub(crate) context: Option<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, global = true)]
    pub(crate) cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true)]
    pub(crate) user: Option<String>,
    /// Namespace of operations (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub(crate) namespace: Option<String>,
    /// The operator's namespace, where its Jobs run.
    #[arg(
        long,
        global = true,
        env = "KAIROS_OPERATOR_NAMESPACE",
        default_value = "kairos-system"
    )]
    pub(crate) operator_namespace: String,
    /// Colour: `auto` colours only when standard output is a terminal.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub(crate) color: Colour,
}

/// When to colour the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Colour {
    /// Only on a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The fleet at a glance: versions and boot states, nodes not reporting or degraded,
    /// operations in flight, nodes the operator cordoned.
    Status,
    /// Upgrade nodes to a Kairos version: one NodeOpUpgrade for a selector (default: every
    /// Kairos node), or `spec.version` on each named node's KairosNode. Prints what it will do
    /// first.
    Upgrade(UpgradeArgs),
    /// Hold a node's upgrade (its KairosNode) or an operation (NodeOp, or a NodeOpUpgrade's
    /// NodeOp): nothing new starts, what is in flight finishes.
    Pause(TargetArgs),
    /// Undo `pause`.
    Resume(TargetArgs),
    /// The logs of the node's latest Job (the engine's Jobs run in the operator's namespace).
    Logs(LogsArgs),
}

/// Arguments of `upgrade`.
#[derive(Debug, Args)]
pub(crate) struct UpgradeArgs {
    /// The Kairos version to upgrade to, e.g. `v3.6.1`.
    #[arg(long)]
    pub(crate) to: String,
    /// Nodes to upgrade by label (a fleet upgrade: one NodeOpUpgrade).
    #[arg(short = 'l', long, conflicts_with = "nodes")]
    pub(crate) selector: Option<String>,
    /// Nodes to upgrade by name, each through its KairosNode's `spec.version`.
    pub(crate) nodes: Vec<String>,
    /// At most this many nodes at once in a fleet upgrade (default 1; 0 means all).
    #[arg(long)]
    pub(crate) concurrency: Option<u32>,
    /// The image to upgrade from (default: derived from each node's reported image).
    #[arg(long)]
    pub(crate) image: Option<String>,
    /// Name of the NodeOpUpgrade (default `upgrade-to-<version>`).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Print what would be done and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Arguments of `pause` and `resume`.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// A KairosNode, NodeOpUpgrade or NodeOp name, or `kind/name` (`node/n4`, `nou/up`,
    /// `nop/op`) when several kinds share it.
    pub(crate) target: String,
}

/// Arguments of `logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// The node.
    pub(crate) node: String,
    /// Only the last lines.
    #[arg(long)]
    pub(crate) tail: Option<i64>,
}

#[cfg(test)]
mod tests;
