//! The shipped monitoring (deploy/monitoring) against the metrics the operator exports: every
//! PromQL expression of the PrometheusRule and of the Grafana dashboard parses, and every metric
//! it names is one this registry exports. Test-only I/O: reads the files of deploy/monitoring.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::http::{Method, Uri};
use kairos_api::{KairosNode, NodeOp, NodeOpTarget, NodeOpUpgrade};
use kube::runtime::reflector::store;
use promql_parser::label::{METRIC_NAME, MatchOp};
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;

use super::OperatorMetrics;
use crate::controllers::Undecodable;
use crate::fleet_metrics::FleetMetrics;
use crate::permissions::classify;
use crate::report::metrics::ReportResult;

/// The registry as the operator builds it, with empty caches behind the fleet's gauges and one
/// sample recorded in each labelled family (the text exposition leaves out a family without
/// samples).
fn registry() -> OperatorMetrics {
    let mut metrics = OperatorMetrics::new();
    let request = classify(&Method::GET, &Uri::from_static("/api/v1/nodes")).expect("a request");
    metrics.permissions.refused(&request, "forbidden");
    drop(metrics.reconcile.start("nodeop"));
    metrics.reconcile.failure("nodeop", "api");
    metrics.report.report(ReportResult::accepted);
    metrics.add_fleet(FleetMetrics {
        kairos_nodes: store::<KairosNode>().0,
        targets: store::<NodeOpTarget>().0,
        nodeops: store::<NodeOp>().0,
        upgrades: store::<NodeOpUpgrade>().0,
        undecodable: Undecodable::default(),
    });
    metrics
}

/// The series names `/metrics` can carry, read from the `# TYPE` lines of the text exposition
/// (a family without samples still has one): a counter's samples end in `_total`, a histogram's
/// in `_bucket`, `_sum` and `_count`, an info metric's in `_info`.
fn exported() -> BTreeSet<String> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry().registry)
        .expect("the registry encodes");
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("a TYPE line names a type");
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "info" => &["_info"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    names
}

fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/monitoring")
}

#[allow(clippy::disallowed_methods)] // the shipped files are read in place
fn read(file: &str) -> String {
    let path = monitoring_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every expression of the PrometheusRule, named by its alert or record.
fn rule_expressions() -> Vec<(String, String)> {
    let rule: Value = serde_yaml::from_str(&read("prometheusrule.yaml")).expect("valid YAML");
    assert_eq!(rule["kind"], "PrometheusRule");
    let mut out = vec![];
    for group in rule["spec"]["groups"].as_array().expect("rule groups") {
        for r in group["rules"].as_array().expect("rules") {
            let name = r["alert"].as_str().or(r["record"].as_str());
            let name = name.expect("a rule is an alert or a record");
            let expr = r["expr"].as_str().expect("a rule has an expression");
            out.push((format!("alert {name}"), expr.to_owned()));
        }
    }
    out
}

/// Every target expression of the dashboard's panels (rows' nested panels included).
fn dashboard_expressions() -> Vec<(String, String)> {
    fn collect(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("(untitled)");
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"]
                    .as_str()
                    .expect("a target has a PromQL expression");
                out.push((format!("panel {title:?}"), expr.to_owned()));
            }
            collect(&p["panels"], out);
        }
    }
    let dashboard: Value = serde_json::from_str(&read("dashboard.json")).expect("valid JSON");
    let mut out = vec![];
    collect(&dashboard["panels"], &mut out);
    out
}

/// Collects the metric names of an expression's selectors; a selector without a literal name
/// is an error (it could match anything).
#[derive(Default)]
struct Names {
    names: BTreeSet<String>,
    unnamed: Vec<String>,
}

impl Names {
    fn selector(&mut self, vs: &VectorSelector) {
        let by_matcher = vs
            .matchers
            .matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.clone());
        match vs.name.clone().or(by_matcher) {
            Some(name) => {
                self.names.insert(name);
            }
            None => self.unnamed.push(vs.to_string()),
        }
    }
}

impl ExprVisitor for Names {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        match expr {
            Expr::VectorSelector(vs) => self.selector(vs),
            Expr::MatrixSelector(ms) => self.selector(&ms.vs),
            _ => {}
        }
        Ok(true)
    }
}

/// The problems of one expression: it does not parse, a selector names no metric, or a metric
/// is not exported.
fn check(expr: &str, exported: &BTreeSet<String>) -> Vec<String> {
    let parsed = match promql_parser::parser::parse(expr) {
        Ok(parsed) => parsed,
        Err(e) => return vec![format!("does not parse: {e}")],
    };
    let mut names = Names::default();
    walk_expr(&mut names, &parsed).expect("the visitor never fails");
    let mut problems: Vec<String> = names
        .unnamed
        .into_iter()
        .map(|s| format!("selector {s} names no metric"))
        .collect();
    problems.extend(
        names
            .names
            .into_iter()
            .filter(|n| !exported.contains(n))
            .map(|n| format!("{n} is not exported by the operator")),
    );
    problems
}

#[test]
fn every_shipped_promql_expression_names_only_exported_metrics() {
    let exported = exported();
    let rules = rule_expressions();
    let panels = dashboard_expressions();
    assert!(rules.len() >= 6, "the PrometheusRule holds the alerts");
    assert!(panels.len() >= 10, "the dashboard holds its panels");
    let problems: Vec<String> = rules
        .iter()
        .chain(&panels)
        .flat_map(|(name, expr)| {
            check(expr, &exported)
                .into_iter()
                .map(move |p| format!("{name}: `{expr}`: {p}"))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{}\nexported: {exported:?}",
        problems.join("\n")
    );
}

#[test]
fn exported_names_follow_the_exposition_suffixes() {
    let exported = exported();
    for name in [
        "kairos_reconcile_failures_total",
        "kairos_reconcile_duration_seconds_bucket",
        "kairos_reconcile_duration_seconds_count",
        "kairos_reports_total",
        "kairos_leader",
        "kairos_ready",
        "kairos_nodes_by_version",
        "kairos_operations",
    ] {
        assert!(exported.contains(name), "{name} in {exported:?}");
    }
    assert!(!exported.contains("kairos_reconcile_failures"));
    assert!(!exported.contains("kairos_reconcile_duration_seconds"));
}

#[test]
fn the_check_refuses_unknown_metrics_unnamed_selectors_and_bad_syntax() {
    let exported = exported();
    assert_eq!(
        check("sum(rate(kairos_reports_total[5m]))", &exported),
        Vec::<String>::new()
    );
    assert_eq!(
        check(r#"{__name__="kairos_leader"} == 1"#, &exported),
        Vec::<String>::new()
    );
    assert_eq!(
        check("max(kairos_nodes_by_flavor) > 0", &exported),
        ["kairos_nodes_by_flavor is not exported by the operator"]
    );
    let unnamed = check(r#"{__name__=~"kairos_.*"}"#, &exported);
    assert_eq!(unnamed.len(), 1, "{unnamed:?}");
    assert!(unnamed[0].contains("names no metric"), "{unnamed:?}");
    let broken = check("sum(rate(kairos_reports_total[5m])", &exported);
    assert!(broken[0].starts_with("does not parse"), "{broken:?}");
}

#[test]
fn the_dashboard_ships_as_a_labelled_config_map() {
    let k: Value = serde_yaml::from_str(&read("kustomization.yaml")).expect("valid YAML");
    let generator = &k["configMapGenerator"][0];
    assert_eq!(generator["options"]["labels"]["grafana_dashboard"], "1");
    let files = generator["files"].as_array().expect("files");
    assert!(
        files
            .iter()
            .any(|f| f.as_str().is_some_and(|f| f.ends_with("=dashboard.json"))),
        "{files:?}"
    );
}
