//! The commands' I/O: reads the objects a command needs, hands them to the pure modules, prints
//! what they say, and writes what they decided. I/O: the API server and standard output.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Context as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kairos_api::names::PLUGIN_FIELD_MANAGER;
use kairos_api::{KairosNode, NodeOp, NodeOpUpgrade};
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};

use crate::cli::{Cli, Colour, Command, LogsArgs, UpgradeArgs};
use crate::status::{Fleet, render_status};
use crate::target::{Kind, choose, done_line, paused_patch};
use crate::upgrade::{Plan, Request, describe, plan};
use crate::{client, logs, target};

/// Runs the command of `cli`.
///
/// # Errors
/// When the cluster cannot be reached, a request is refused, or the command cannot do what
/// was asked (the message says why).
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let colour = match cli.connection.color {
        Colour::Auto => std::io::stdout().is_terminal(),
        Colour::Always => true,
        Colour::Never => false,
    };
    let (client, namespace) = client::connect(&cli.connection).await?;
    match cli.command {
        Command::Status => status(client, colour).await,
        Command::Upgrade(args) => upgrade(client, namespace, args, colour).await,
        Command::Pause(t) => pause(client, &namespace, &t.target, true).await,
        Command::Resume(t) => pause(client, &namespace, &t.target, false).await,
        Command::Logs(args) => logs(client, &cli.connection.operator_namespace, args).await,
    }
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

async fn list_all<K>(client: &Client) -> anyhow::Result<Vec<K>>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    let plural = K::plural(&K::DynamicType::default()).into_owned();
    Ok(api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("cannot list {plural}"))?
        .items)
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(PLUGIN_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

async fn status(client: Client, colour: bool) -> anyhow::Result<()> {
    let kairos_nodes: Vec<KairosNode> = list_all(&client).await?;
    let nodes: Vec<Node> = list_all(&client).await?;
    let nodeops: Vec<NodeOp> = list_all(&client).await?;
    let upgrades: Vec<NodeOpUpgrade> = list_all(&client).await?;
    let fleet = Fleet {
        kairos_nodes: &kairos_nodes,
        nodes: &nodes,
        nodeops: &nodeops,
        upgrades: &upgrades,
    };
    print(&render_status(fleet, Timestamp::now(), colour))
}

async fn upgrade(
    client: Client,
    namespace: String,
    args: UpgradeArgs,
    colour: bool,
) -> anyhow::Result<()> {
    let kairos_nodes: Vec<KairosNode> = list_all(&client).await?;
    let nodes: Vec<Node> = list_all(&client).await?;
    let request = Request {
        to: args.to,
        selector: args.selector,
        nodes: args.nodes,
        concurrency: args.concurrency,
        image: args.image,
        name: args.name,
        namespace: namespace.clone(),
    };
    let plan = plan(&request, &nodes, &kairos_nodes)?;
    print(&describe(&plan, colour))?;
    if args.dry_run {
        return print("dry run: nothing written\n");
    }
    if matches!(plan, Plan::Fleet { .. }) && !plan.upgrades_any() {
        return print("nothing to upgrade: no NodeOpUpgrade created\n");
    }
    match plan {
        Plan::Fleet { upgrade, .. } => {
            let api: Api<NodeOpUpgrade> = Api::namespaced(client, &namespace);
            let pp = PostParams {
                field_manager: Some(PLUGIN_FIELD_MANAGER.to_owned()),
                ..PostParams::default()
            };
            let created = api
                .create(&pp, &upgrade)
                .await
                .context("cannot create the NodeOpUpgrade (pass --name to choose another name)")?;
            print(&format!(
                "nodeopupgrade.operator.kairos.io/{} created\n",
                created.metadata.name.unwrap_or_default()
            ))
        }
        Plan::PerNode { patches, .. } => {
            let api: Api<KairosNode> = Api::all(client);
            for (node, body) in patches {
                api.patch(&node, &params(), &Patch::Merge(&body))
                    .await
                    .with_context(|| format!("cannot set spec.version of KairosNode {node}"))?;
                print(&format!("kairosnode.operator.kairos.io/{node} patched\n"))?;
            }
            Ok(())
        }
    }
}

async fn pause(client: Client, namespace: &str, arg: &str, pause: bool) -> anyhow::Result<()> {
    let (kind, name) = target::parse(arg)?;
    let kairos_nodes: Api<KairosNode> = Api::all(client.clone());
    let upgrades: Api<NodeOpUpgrade> = Api::namespaced(client.clone(), namespace);
    let nodeops: Api<NodeOp> = Api::namespaced(client, namespace);
    let mut found = Vec::new();
    if kind.is_none_or(|k| k == Kind::KairosNode) && kairos_nodes.get_opt(name).await?.is_some() {
        found.push(Kind::KairosNode);
    }
    let upgrade = match kind {
        None | Some(Kind::NodeOpUpgrade) => upgrades.get_opt(name).await?,
        Some(_) => None,
    };
    if upgrade.is_some() {
        found.push(Kind::NodeOpUpgrade);
    }
    if kind.is_none_or(|k| k == Kind::NodeOp) && nodeops.get_opt(name).await?.is_some() {
        found.push(Kind::NodeOp);
    }
    let body = paused_patch(pause);
    let line = match choose(name, namespace, &found)? {
        Kind::KairosNode => {
            kairos_nodes
                .patch(name, &params(), &Patch::Merge(&body))
                .await?;
            done_line(Kind::KairosNode, name, None, pause)
        }
        Kind::NodeOp => {
            nodeops.patch(name, &params(), &Patch::Merge(&body)).await?;
            done_line(Kind::NodeOp, name, None, pause)
        }
        Kind::NodeOpUpgrade => {
            let nodeop = upgrade
                .and_then(|u| u.status)
                .and_then(|s| s.node_op_name)
                .with_context(|| {
                    format!("NodeOpUpgrade {namespace}/{name} has no NodeOp yet: nothing runs to pause or resume")
                })?;
            nodeops
                .patch(&nodeop, &params(), &Patch::Merge(&body))
                .await
                .with_context(|| format!("cannot patch NodeOp {namespace}/{nodeop}"))?;
            done_line(
                Kind::NodeOpUpgrade,
                name,
                Some(&format!("{namespace}/{nodeop}")),
                pause,
            )
        }
    };
    print(&format!("{line}\n"))
}

async fn logs(client: Client, operator_namespace: &str, args: LogsArgs) -> anyhow::Result<()> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), operator_namespace);
    let list = jobs
        .list(&ListParams::default().labels(&logs::job_selector(&args.node)))
        .await
        .with_context(|| format!("cannot list the Jobs in {operator_namespace}"))?
        .items;
    let job = logs::latest_job(&list).with_context(|| {
        format!(
            "no Job of node {} in namespace {operator_namespace}",
            args.node
        )
    })?;
    let job_name = job.metadata.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client, operator_namespace);
    let pod_list = pods
        .list(&ListParams::default().labels(&logs::pod_selector(&job_name)))
        .await
        .with_context(|| format!("cannot list the pods of Job {job_name}"))?
        .items;
    let pod = logs::latest_pod(&pod_list, job);
    print(&logs::header(&args.node, job, pod))?;
    let Some(pod) = pod else {
        return Ok(());
    };
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let lp = LogParams {
        tail_lines: args.tail,
        ..LogParams::default()
    };
    let text = pods
        .logs(&pod_name, &lp)
        .await
        .with_context(|| format!("cannot read the logs of pod {pod_name}"))?;
    print(&text)
}
