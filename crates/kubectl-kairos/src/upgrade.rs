//! `kubectl kairos upgrade`: decides, from the request and the Nodes and KairosNodes read, what
//! to write (one NodeOpUpgrade for a selector, or `spec.version` on each named KairosNode) and
//! says it, node by node, before anything is written. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kairos_api::names::LABEL_MANAGED;
use kairos_api::v1alpha1::{Gates, NodeOpUpgradeSpec};
use kairos_api::{KairosNode, NodeOpUpgrade};
use kairos_core::k8s_names::matches;
use kairos_core::upgrade::image::derive_image;
use kairos_core::upgrade::version::{is_kairos_version, target_version_from_image, versions_equal};
use serde_json::{Value, json};

use crate::selector::{self, display};
use crate::table::{Cell, Tone, render};

/// What the user asked for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Request {
    /// The Kairos version to run.
    pub(crate) to: String,
    /// `-l`: the nodes of a fleet upgrade.
    pub(crate) selector: Option<String>,
    /// Named nodes: each upgraded on its own through its KairosNode.
    pub(crate) nodes: Vec<String>,
    /// `--concurrency` of a fleet upgrade.
    pub(crate) concurrency: Option<u32>,
    /// `--image`: the image to upgrade from instead of the one derived from the nodes' reports.
    pub(crate) image: Option<String>,
    /// `--name` of the NodeOpUpgrade.
    pub(crate) name: Option<String>,
    /// Namespace of the NodeOpUpgrade.
    pub(crate) namespace: String,
}

/// Why an upgrade cannot be planned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PlanError {
    /// `--to` is not a Kairos version.
    #[error("--to {0:?} is not a Kairos version (v3.6.1, v3.6.1-rc1, ...)")]
    BadVersion(String),
    /// `--image` names another version than `--to`.
    #[error("--image {image} names version {found}, not {to}")]
    ImageVersion {
        image: String,
        found: String,
        to: String,
    },
    /// The `-l` selector does not parse.
    #[error(transparent)]
    Selector(#[from] selector::SelectorError),
    /// `--concurrency` with named nodes.
    #[error(
        "--concurrency applies to a fleet upgrade (-l); each named node is upgraded on its own"
    )]
    ConcurrencyPerNode,
    /// A named node has no KairosNode.
    #[error("no KairosNode {0}: its agent has not reported a Kairos release")]
    UnknownNode(String),
    /// The image of a node cannot be derived from its report.
    #[error("cannot derive the image of {node} for {to}: {reason}; pass --image")]
    Derive {
        node: String,
        to: String,
        reason: String,
    },
    /// The nodes need different images.
    #[error(
        "the nodes run different images, so one NodeOpUpgrade cannot upgrade them all: {0}; narrow the selector (-l) or name the nodes"
    )]
    MixedImages(String),
    /// A trusted-boot node to upgrade without `--image`.
    #[error(
        "{0} boots trusted (UKI): it is upgraded only from a UKI image signed with its keys, which its report cannot name; pass --image"
    )]
    TrustedBootNeedsImage(String),
    /// Trusted-boot and other nodes in one fleet upgrade.
    #[error(
        "{0} boot trusted (UKI) and {1} do not, so one image cannot upgrade them all; narrow the selector (-l) or name the nodes"
    )]
    MixedBoot(String, String),
}

/// One target node and what happens to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) node: String,
    pub(crate) version: String,
    pub(crate) action: String,
    /// Whether the node will be upgraded.
    pub(crate) upgrades: bool,
}

/// What `upgrade` writes.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    /// Create this NodeOpUpgrade.
    Fleet {
        upgrade: Box<NodeOpUpgrade>,
        rows: Vec<Row>,
    },
    /// Merge-patch each KairosNode (by name) with its body.
    PerNode {
        patches: Vec<(String, Value)>,
        rows: Vec<Row>,
    },
}

impl Plan {
    /// The target nodes and what happens to each.
    pub(crate) fn rows(&self) -> &[Row] {
        match self {
            Self::Fleet { rows, .. } | Self::PerNode { rows, .. } => rows,
        }
    }
    /// Whether any node will be upgraded.
    pub(crate) fn upgrades_any(&self) -> bool {
        self.rows().iter().any(|r| r.upgrades)
    }
}

/// Plans `req` against the cluster's `nodes` and `kairos_nodes`.
///
/// # Errors
/// A [`PlanError`] saying what is wrong with the request or why the image is unknown.
pub(crate) fn plan(
    req: &Request,
    nodes: &[Node],
    kairos_nodes: &[KairosNode],
) -> Result<Plan, PlanError> {
    if !is_kairos_version(&req.to) {
        return Err(PlanError::BadVersion(req.to.clone()));
    }
    if let Some(image) = &req.image {
        let found = target_version_from_image(image).unwrap_or_else(|| "none".to_owned());
        if !versions_equal(Some(&found), Some(&req.to)) {
            return Err(PlanError::ImageVersion {
                image: image.clone(),
                found,
                to: req.to.clone(),
            });
        }
    }
    let by_name: BTreeMap<&str, &KairosNode> = kairos_nodes
        .iter()
        .filter_map(|k| Some((k.metadata.name.as_deref()?, k)))
        .collect();
    if req.nodes.is_empty() {
        fleet(req, nodes, &by_name)
    } else {
        per_node(req, &by_name)
    }
}

fn reported_version(kn: &KairosNode) -> Option<&str> {
    kn.status.as_ref()?.kairos.as_ref()?.version.as_deref()
}

/// Whether the node reports a trusted (UKI) boot.
fn boots_trusted(kn: &KairosNode) -> bool {
    kn.status.as_ref().and_then(|s| s.trusted_boot) == Some(true)
}

fn per_node(req: &Request, by_name: &BTreeMap<&str, &KairosNode>) -> Result<Plan, PlanError> {
    if req.concurrency.is_some() {
        return Err(PlanError::ConcurrencyPerNode);
    }
    let mut rows = Vec::new();
    let mut patches = Vec::new();
    for node in &req.nodes {
        let kn = by_name
            .get(node.as_str())
            .ok_or_else(|| PlanError::UnknownNode(node.clone()))?;
        let running = reported_version(kn);
        let current = versions_equal(running, Some(&req.to));
        let mut action = if current {
            format!("set spec.version {}: already runs it", req.to)
        } else {
            format!("set spec.version {}: upgrade", req.to)
        };
        if kn.spec.paused == Some(true) {
            action.push_str(" (paused: waits for resume)");
        }
        let trusted = boots_trusted(kn);
        let mut spec = json!({"version": req.to});
        match &req.image {
            Some(image) => {
                spec["image"] = json!(image);
                if trusted {
                    spec["trustedBoot"] = json!(true);
                }
            }
            None if trusted && !current => {
                return Err(PlanError::TrustedBootNeedsImage(node.clone()));
            }
            None => {}
        }
        patches.push((node.clone(), json!({ "spec": spec })));
        rows.push(Row {
            node: node.clone(),
            version: running.unwrap_or("unknown").to_owned(),
            action,
            upgrades: !current,
        });
    }
    Ok(Plan::PerNode { patches, rows })
}

fn fleet(
    req: &Request,
    nodes: &[Node],
    by_name: &BTreeMap<&str, &KairosNode>,
) -> Result<Plan, PlanError> {
    let selector = match &req.selector {
        Some(text) => selector::parse(text)?,
        None => LabelSelector {
            match_labels: Some(BTreeMap::from([(
                LABEL_MANAGED.to_owned(),
                "true".to_owned(),
            )])),
            match_expressions: None,
        },
    };
    let mut targets: Vec<&str> = nodes
        .iter()
        .filter(|n| {
            let labels = n.metadata.labels.clone().unwrap_or_default();
            // A selector Kubernetes would refuse matches nothing here; the operator reports it.
            matches(&selector, &labels).unwrap_or(false)
        })
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    targets.sort_unstable();
    let mut rows = Vec::new();
    let mut images: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut trusted, mut untrusted) = (Vec::new(), Vec::new());
    for node in targets {
        let Some(kn) = by_name.get(node) else {
            rows.push(Row {
                node: node.to_owned(),
                version: "unknown".to_owned(),
                action: "skip: no KairosNode (not a reporting Kairos node)".to_owned(),
                upgrades: false,
            });
            continue;
        };
        let running = reported_version(kn);
        let (action, upgrades) = match kn.spec.version.as_deref() {
            Some(pinned) if !versions_equal(Some(pinned), Some(&req.to)) => {
                (format!("skip: its KairosNode pins {pinned}"), false)
            }
            _ if versions_equal(running, Some(&req.to)) => {
                (format!("skip: already runs {}", req.to), false)
            }
            _ => (format!("upgrade to {}", req.to), true),
        };
        if upgrades {
            if boots_trusted(kn) {
                trusted.push(node);
            } else {
                untrusted.push(node);
            }
        }
        if upgrades && boots_trusted(kn) && req.image.is_none() {
            return Err(PlanError::TrustedBootNeedsImage(node.to_owned()));
        }
        if upgrades && req.image.is_none() {
            let reported = kn
                .status
                .as_ref()
                .and_then(|s| s.kairos.clone())
                .unwrap_or_default();
            let image = derive_image(&reported, &req.to).map_err(|e| PlanError::Derive {
                node: node.to_owned(),
                to: req.to.clone(),
                reason: e.to_string(),
            })?;
            images.entry(image).or_default().insert(node.to_owned());
        }
        rows.push(Row {
            node: node.to_owned(),
            version: running.unwrap_or("unknown").to_owned(),
            action,
            upgrades,
        });
    }
    let image = match (&req.image, images.len()) {
        (Some(image), _) => image.clone(),
        (None, 0 | 1) => images.into_keys().next().unwrap_or_default(),
        (None, _) => {
            let which: Vec<String> = images
                .iter()
                .map(|(image, nodes)| {
                    format!(
                        "{image} for {}",
                        nodes.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            return Err(PlanError::MixedImages(which.join("; ")));
        }
    };
    if !trusted.is_empty() && !untrusted.is_empty() {
        return Err(PlanError::MixedBoot(
            trusted.join(", "),
            untrusted.join(", "),
        ));
    }
    let name = req.name.clone().unwrap_or_else(|| default_name(&req.to));
    let mut upgrade = NodeOpUpgrade::new(
        &name,
        NodeOpUpgradeSpec {
            image,
            node_selector: Some(selector),
            target_nodes: None,
            concurrency: i32::try_from(req.concurrency.unwrap_or(1)).unwrap_or(i32::MAX),
            stop_on_failure: false,
            upgrade_active: true,
            upgrade_recovery: false,
            force: false,
            allow_system_change: false,
            debug: false,
            uncordon_on_failure: false,
            image_pull_secrets: None,
            gates: Gates::default(),
            resources: None,
            trusted_boot: !trusted.is_empty(),
        },
    );
    upgrade.metadata.namespace = Some(req.namespace.clone());
    Ok(Plan::Fleet {
        upgrade: Box::new(upgrade),
        rows,
    })
}

/// `upgrade-to-v3-6-1` for `v3.6.1`: a valid object name.
pub(crate) fn default_name(to: &str) -> String {
    let version: String = to
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("upgrade-to-{}", version.trim_matches('-'))
}

/// What the plan will do, before it is done: the object and every target node's action.
pub(crate) fn describe(plan: &Plan, colour: bool) -> String {
    let mut out = match plan {
        Plan::Fleet { upgrade, .. } => {
            let spec = &upgrade.spec;
            let none = LabelSelector::default();
            format!(
                "NodeOpUpgrade {}/{}\n  image:        {}\n  nodeSelector: {}\n  concurrency:  {}\n",
                upgrade.metadata.namespace.as_deref().unwrap_or_default(),
                upgrade.metadata.name.as_deref().unwrap_or_default(),
                spec.image,
                display(spec.node_selector.as_ref().unwrap_or(&none)),
                spec.concurrency,
            )
        }
        Plan::PerNode { patches, .. } => {
            format!("KairosNode spec.version on {} node(s)\n", patches.len())
        }
    };
    let upgrading = plan.rows().iter().filter(|r| r.upgrades).count();
    out.push_str(&format!(
        "{upgrading} of {} target node(s) to upgrade\n",
        plan.rows().len()
    ));
    let rows: Vec<Vec<Cell>> = plan
        .rows()
        .iter()
        .map(|r| {
            let tone = if r.upgrades { Tone::Warn } else { Tone::Plain };
            vec![
                Cell::plain(&r.node),
                Cell::plain(&r.version),
                Cell::toned(&r.action, tone),
            ]
        })
        .collect();
    render(&mut out, &["NODE", "VERSION", "ACTION"], &rows, colour);
    out
}

#[cfg(test)]
mod tests;
