use clap::{CommandFactory, Parser};

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args)
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn connection_flags_go_before_or_after_the_command() {
    for args in [
        &["kubectl-kairos", "--context", "edge", "-n", "ops", "status"][..],
        &[
            "kubectl-kairos",
            "status",
            "--context",
            "edge",
            "--namespace",
            "ops",
        ],
    ] {
        let cli = parse(args).expect("parses");
        assert_eq!(cli.connection.context.as_deref(), Some("edge"));
        assert_eq!(cli.connection.namespace.as_deref(), Some("ops"));
        assert!(matches!(cli.command, Command::Status));
    }
}

#[test]
fn upgrade_takes_a_selector_or_names_not_both() {
    let cli = parse(&[
        "kubectl-kairos",
        "upgrade",
        "--to",
        "v3.6.1",
        "n1",
        "n2",
        "--dry-run",
    ])
    .expect("parses");
    let Command::Upgrade(u) = cli.command else {
        panic!("upgrade expected");
    };
    assert_eq!(u.nodes, ["n1", "n2"]);
    assert!(u.dry_run && u.selector.is_none());
    assert!(
        parse(&[
            "kubectl-kairos",
            "upgrade",
            "--to",
            "v3.6.1",
            "-l",
            "a=b",
            "n1"
        ])
        .is_err()
    );
    assert!(
        parse(&["kubectl-kairos", "upgrade", "-l", "a=b"]).is_err(),
        "--to is required"
    );
}
