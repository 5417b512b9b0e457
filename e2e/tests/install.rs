//! End to end, as installed: the install tree renders as Kustomize renders it and applies
//! without a warning, and the operator runs under exactly the permissions it ships with (its
//! service account's token, never admin) through a maintenance NodeOp with cordon, drain and
//! reboot, a fleet upgrade and a per-node upgrade, with no request refused. Does API and process
//! I/O.

mod common;
mod ops;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kairos_api::v1alpha1::{BootState, KairosNode, UpgradeState};
use kairos_e2e::harness::install::{self, INSTALL_NAMESPACE};
use kairos_e2e::harness::{Cluster, wait_for};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use ops::*;

const FROM: &str = "v3.5.0";
const TO: &str = "v3.6.0";

/// Lines of `logs` that speak of a refused request.
fn refusals(logs: &str) -> Vec<&str> {
    logs.lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("forbidden") || l.contains(" 403") || l.contains("unauthorized")
        })
        .collect()
}

#[tokio::test]
async fn install_journey_runs_under_the_shipped_rbac_with_least_privilege() {
    let (c, ns) = common::cluster("install-journey").await;
    // The control-plane node cp1 and workers w1, w2, their agents reporting FROM.
    let nodes =
        [("cp1", true), ("w1", false), ("w2", false)].map(|(n, cp)| (n.to_owned(), cp, FROM));
    let op = fleet_of(&c, &nodes).await;
    let opts = op.opts.clone();

    // A workload pod on w1 guarded by a PodDisruptionBudget that allows one disruption (a real
    // API server needs the disruption controller to compute the budget's status).
    let owner = workload_owner(&c, &ns, "web").await;
    workload_pod(&c, &ns, "web-0", "w1", &owner).await;
    if c.has_gc() {
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        }))
        .expect("pdb");
        Api::<PodDisruptionBudget>::namespaced(c.client(), &ns)
            .create(&PostParams::default(), &pdb)
            .await
            .expect("pdb created");
    }

    // Maintenance on w1: cordon, drain, a Job, reboot, uncordon.
    let maintenance = c.kubelet().run_auto(node_policy(
        Duration::from_millis(200),
        |_, _, _| None,
        |_| Default::default(),
    ));
    create_nodeop(
        &c,
        &ns,
        json!({
            "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
            "metadata": {"name": "maintenance"},
            "spec": {"targetNodes": ["w1"], "image": "busybox:latest",
                "command": ["sh", "-c", "true"], "cordon": true, "rebootOnSuccess": true,
                "drainOptions": {"enabled": true, "ignoreDaemonSets": true, "timeoutSeconds": 30}},
        }),
    )
    .await;
    wait_completed(&c, &op, &ns, "maintenance", 60).await;
    assert!(
        Api::<Pod>::namespaced(c.client(), &ns)
            .get_opt("web-0")
            .await
            .expect("get")
            .is_none(),
        "the drain evicted the workload pod"
    );
    assert_eq!(c.node("w1").expect("w1").boots(), 2, "w1 rebooted once");
    drop(maintenance);

    // A fleet upgrade of cp1 and w1, then a per-node upgrade of w2.
    let _kubelet = c.kubelet().run_auto(upgrade_policy(TO));
    create_upgrade(
        &c,
        &ns,
        "to-360",
        json!({"image": image(TO), "targetNodes": ["cp1", "w1"], "concurrency": 1}),
    )
    .await;
    let up = wait_upgrade(&c, &op, &ns, "to-360", 60).await;
    let st = up.status.expect("status");
    assert_eq!(
        phase_str(st.phase.as_ref()).as_deref(),
        Some("Completed"),
        "{st:#?}"
    );
    let kns: Api<KairosNode> = Api::all(c.client());
    kns.patch(
        "w2",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"version": TO}})),
    )
    .await
    .expect("per-node upgrade asked");
    wait_for(Duration::from_secs(40), || async {
        let kn = kns.get("w2").await.ok()?;
        let state = kn.status.as_ref()?.upgrade.as_ref()?.state;
        (state == UpgradeState::Completed && reports(&kn, TO, BootState::Active)).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("w2 was not upgraded: {e}\n{}", op.logs(&c)));

    // Deleting the maintenance NodeOp removes its Jobs and pods (the finalizer's cleanup).
    nodeops(&c, &ns)
        .delete("maintenance", &DeleteParams::default())
        .await
        .expect("deleted");
    wait_for(Duration::from_secs(20), || async {
        nodeops(&c, &ns)
            .get_opt("maintenance")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("the NodeOp was not cleaned up: {e}\n{}", op.logs(&c)));

    // A second replica serves the report channel over TLS, with the CA and serving certificate
    // it creates (the journey's agents talk plaintext).
    let tls = c
        .start_report_operator_tls(&opts.namespace, &[], &[("POD_NAME", "kairos-operator-tls")])
        .await
        .expect("a TLS replica becomes ready");

    let logs = format!("{}{}", op.logs(&c), c.operator_logs(tls.index));
    let refused = refusals(&logs);
    assert!(
        refused.is_empty(),
        "refused requests:\n{}",
        refused.join("\n")
    );
    if let Some(sim) = c.sim() {
        assert_least_privilege(sim.sim(), &opts.namespace);
    }
}

/// What the operator's service account did in the simulator: no request refused, and every
/// verb of every rule of its Role and ClusterRole used, or listed in deploy/README.md
/// ("Least privilege, checked") with why it stays.
fn assert_least_privilege(sim: &kairos_kube_sim::Sim, ns: &str) {
    let user = format!("system:serviceaccount:{ns}:kairos-operator");
    let refused: Vec<String> = sim
        .forbidden()
        .into_iter()
        .filter(|d| d.user == user)
        .map(|d| format!("{:?}", d.attributes))
        .collect();
    assert!(refused.is_empty(), "refused: {refused:#?}");
    // (role kind, role name, rule index) -> verbs used through that rule.
    let mut used: BTreeMap<(String, String, usize), BTreeSet<String>> = BTreeMap::new();
    for a in sim.permissions().of(&user) {
        if let Some(kairos_kube_sim::Grant::Rule(r)) = a.allowed_by {
            used.entry((r.source.kind.clone(), r.source.name.clone(), r.index))
                .or_default()
                .insert(a.attributes.verb.clone());
        }
    }
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/README.md"),
    )
    .expect("deploy/README.md");
    let mut unused = vec![];
    for o in install::identity_objects(ns).expect("renders") {
        let kind = o["kind"].as_str().unwrap_or_default().to_owned();
        let name = o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !matches!(kind.as_str(), "Role" | "ClusterRole") || name != "kairos-operator" {
            continue;
        }
        for (i, rule) in o["rules"].as_array().into_iter().flatten().enumerate() {
            let seen = used.get(&(kind.clone(), name.clone(), i));
            let resources: Vec<&str> = rule["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let verbs = rule["verbs"].as_array().into_iter().flatten();
            for verb in verbs.filter_map(Value::as_str) {
                if seen.is_some_and(|v| v.contains(verb)) {
                    continue;
                }
                let label = format!("{kind} {name}: {} ({verb})", resources.join(", "));
                if !readme.contains(&format!("| {label} |")) {
                    unused.push(label);
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "permissions the journeys never used; remove them or justify them in deploy/README.md \
         (\"Least privilege, checked\", a row `| <permission> | <why> |`):\n{}",
        unused.join("\n")
    );
}

#[tokio::test]
async fn install_tree_renders_as_kubectl_kustomize_renders_it() {
    let Some(out) = kubectl_kustomize().await else {
        println!(
            "skipping install_tree_renders_as_kubectl_kustomize_renders_it: no kubectl with Kustomize v5"
        );
        return;
    };
    let mut theirs: Vec<Value> = serde_yaml::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .collect();
    // Kustomize v5 does not know that admission policies are cluster-scoped and gives them the
    // tree's namespace; the API server drops a namespace on a cluster-scoped object.
    for o in &mut theirs {
        let policy = o["kind"]
            .as_str()
            .is_some_and(|k| k.starts_with("ValidatingAdmissionPolicy"));
        if policy && let Some(m) = o["metadata"].as_object_mut() {
            m.remove("namespace");
        }
    }
    let mut ours = install::render(&install::default_install_dir()).expect("renders");
    let key = |v: &Value| {
        format!(
            "{}/{}/{}",
            v["kind"], v["metadata"]["namespace"], v["metadata"]["name"]
        )
    };
    theirs.sort_by_key(key);
    ours.sort_by_key(key);
    assert_eq!(
        ours.iter().map(key).collect::<Vec<_>>(),
        theirs.iter().map(key).collect::<Vec<_>>()
    );
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(numbers_as_floats(a), numbers_as_floats(b), "{}", key(a));
    }
    assert!(
        ours.iter()
            .filter(|o| o["metadata"]["namespace"].is_string())
            .all(|o| o["metadata"]["namespace"] == INSTALL_NAMESPACE)
    );
}

/// `v` with every number as a float: YAML's `0.0` and Kustomize's `0` are the same value.
fn numbers_as_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_floats).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), numbers_as_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `kubectl kustomize deploy/default`, when a kubectl with Kustomize v5 is installed.
async fn kubectl_kustomize() -> Option<String> {
    let out = tokio::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(install::default_install_dir())
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn install_kubectl_apply_server_side_prints_no_warning() {
    // A cluster without the CRDs, as an admin installs into.
    let c = Cluster::start_bare().await.expect("cluster starts");
    let dir = install::default_install_dir();
    let Some((ok, out)) = c
        .kubectl(&[
            "apply",
            "-k",
            dir.to_str().expect("utf-8 path"),
            "--server-side",
        ])
        .await
    else {
        println!(
            "skipping install_kubectl_apply_server_side_prints_no_warning: kubectl is not installed"
        );
        return;
    };
    assert!(ok, "{out}");
    assert!(!out.to_ascii_lowercase().contains("warning"), "{out}");
    for applied in [
        "clusterrole.rbac.authorization.k8s.io/kairos-node-admin serverside-applied",
        "validatingadmissionpolicy.admissionregistration.k8s.io/kairos-node-privileges serverside-applied",
        "deployment.apps/kairos-operator serverside-applied",
    ] {
        assert!(out.contains(applied), "{applied}:\n{out}");
    }
}

/// The operator's Role without `list` and `watch` on its Lease (the rule the first install
/// lacked).
fn without_lease_watch(objs: &mut [Value]) {
    let role = objs
        .iter_mut()
        .find(|o| o["kind"] == "Role" && o["metadata"]["name"] == "kairos-operator")
        .expect("the operator's Role");
    let mut found = false;
    for rule in role["rules"].as_array_mut().expect("rules") {
        if rule["resources"] == json!(["leases"]) {
            let verbs = rule["verbs"].as_array_mut().expect("verbs");
            found |= verbs.iter().any(|v| v == "watch");
            verbs.retain(|v| v != "list" && v != "watch");
        }
    }
    assert!(found, "the Role grants watch on leases: {role}");
}

#[tokio::test]
async fn install_without_the_lease_watch_rule_the_operator_says_what_is_missing() {
    let (c, _ns) = common::cluster("install-lease-rule").await;
    let opts = OperatorOpts::new();
    c.install_permissions_with(&opts.namespace, |objs| without_lease_watch(objs))
        .await
        .expect("installed");
    let op = start_operator(&c, &opts).await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], op.admin));
    let refused = |body: &str| {
        ["list", "watch"]
            .iter()
            .filter_map(|verb| {
                let series = format!(
                    r#"kairos_api_forbidden_total{{resource="leases.coordination.k8s.io",verb="{verb}"}}"#
                );
                kairos_e2e::harness::metric_value(body, &series)
            })
            .sum::<f64>()
    };
    let metrics = wait_for(Duration::from_secs(30), || async {
        let (code, body) = kairos_e2e::harness::http_get(addr, "/metrics").await.ok()?;
        (code == 200 && refused(&body) >= 1.0).then_some(body)
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "no refused Lease list or watch counted: {e}\n{}",
            op.logs(&c)
        )
    });
    // Not ready while the permission is missing, but alive: it keeps leading and retrying with
    // backoff instead of crash-looping.
    for _ in 0..10 {
        let (ready, _) = kairos_e2e::harness::http_get(addr, "/readyz")
            .await
            .expect("readyz");
        assert_eq!(ready, 503, "{metrics}\n{}", op.logs(&c));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (live, _) = kairos_e2e::harness::http_get(addr, "/livez")
        .await
        .expect("livez");
    assert_eq!(live, 200);
    let logs = op.logs(&c);
    let said: Vec<&str> = refusals(&logs)
        .into_iter()
        .filter(|l| l.contains("leases"))
        .collect();
    // Once per verb refused (a watcher lists before it watches), not once per retry.
    assert!(
        (1..=2).contains(&said.len()),
        "said once per verb:\n{}",
        said.join("\n")
    );
    assert!(
        said.iter()
            .all(|l| l.contains("list") || l.contains("watch")),
        "{said:?}"
    );

    // The admin fixes the Role: the operator turns ready without a restart.
    c.install_permissions(&opts.namespace)
        .await
        .expect("installed");
    wait_for(Duration::from_secs(60), || async {
        let (code, _) = kairos_e2e::harness::http_get(addr, "/readyz").await.ok()?;
        (code == 200).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("not ready after the fix: {e}\n{}", op.logs(&c)));
}

#[tokio::test]
async fn install_policy_refuses_node_work_without_node_privileges() {
    let (c, ns) = common::cluster("install-policy").await;
    if c.backend() == kairos_e2e::harness::BackendKind::Sim {
        println!(
            "skipping install_policy_refuses_node_work_without_node_privileges: the simulator \
             evaluates no admission policy (run the suite on a real API server)"
        );
        return;
    }
    c.install_permissions(INSTALL_NAMESPACE)
        .await
        .expect("installed");
    // alice may create NodeOps and NodeOpUpgrades in her namespace and edit KairosNodes, but
    // holds no `use` on `nodeprivileges`.
    c.ensure_service_account(&ns, "alice").await.expect("sa");
    let alice_sa = json!([{"kind": "ServiceAccount", "name": "alice", "namespace": ns}]);
    for o in [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "alice", "namespace": ns},
            "rules": [{"apiGroups": ["operator.kairos.io"], "resources": ["nodeops", "nodeopupgrades"],
                "verbs": ["get", "list", "create", "update", "patch", "delete"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "alice", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "alice"},
            "subjects": alice_sa}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": format!("{ns}-alice")},
            "rules": [{"apiGroups": ["operator.kairos.io"], "resources": ["kairosnodes"],
                "verbs": ["get", "patch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("{ns}-alice")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{ns}-alice")},
            "subjects": alice_sa}),
    ] {
        c.apply_object(&o).await.expect("applied");
    }
    let kn: KairosNode =
        serde_json::from_value(json!({"metadata": {"name": "kn-policy"}})).expect("kn");
    Api::<KairosNode>::all(c.client())
        .create(&PostParams::default(), &kn)
        .await
        .expect("KairosNode created");
    let alice = kairos_e2e::harness::client_from(
        &c.service_account_kubeconfig(&ns, "alice")
            .await
            .expect("kubeconfig"),
    )
    .await
    .expect("alice's client");
    let nodeop: kairos_api::NodeOp = serde_json::from_value(json!({
        "metadata": {"name": "root-everywhere"},
        "spec": {"image": "busybox:latest", "command": ["sh", "-c", "id"]},
    }))
    .expect("nodeop");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let alice_nodeops: Api<kairos_api::NodeOp> = Api::namespaced(alice.clone(), &ns);

    // Refused (the policy takes a moment to be active after it is created).
    let refusal = wait_for(Duration::from_secs(30), || async {
        match alice_nodeops.create(&dry, &nodeop).await {
            Err(kube::Error::Api(e)) if e.message.contains("nodeprivileges") => Some(e),
            _ => None,
        }
    })
    .await
    .expect("the policy refuses alice's NodeOp");
    assert_eq!(refusal.code, 403, "{refusal:?}");
    assert!(refusal.message.contains("alice"), "{refusal:?}");
    let upgrade: kairos_api::NodeOpUpgrade = serde_json::from_value(json!({
        "metadata": {"name": "to-360"}, "spec": {"image": image(TO)},
    }))
    .expect("upgrade");
    let r = Api::<kairos_api::NodeOpUpgrade>::namespaced(alice.clone(), &ns)
        .create(&PostParams::default(), &upgrade)
        .await;
    assert!(
        matches!(&r, Err(kube::Error::Api(e)) if e.code == 403),
        "{r:?}"
    );
    let alice_kns: Api<KairosNode> = Api::all(alice.clone());
    let r = alice_kns
        .patch(
            "kn-policy",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": TO}})),
        )
        .await;
    assert!(
        matches!(&r, Err(kube::Error::Api(e)) if e.code == 403),
        "{r:?}"
    );
    // Labels are no node work.
    alice_kns
        .patch(
            "kn-policy",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await
        .expect("a label edit passes");

    // Bound cluster-wide to kairos-node-admin, she may.
    c.apply_object(&json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": format!("{ns}-alice-node-admin")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kairos-node-admin"},
        "subjects": alice_sa}))
    .await
    .expect("bound");
    wait_for(Duration::from_secs(30), || async {
        alice_nodeops.create(&dry, &nodeop).await.ok().map(|_| ())
    })
    .await
    .expect("alice may once she holds kairos-node-admin");
}
