//! The seed documents' YAML examples (`../shared/seeds/*.txt`) are accepted unchanged by the CRDs
//! as generated into `deploy/crds/` (structural schema, defaults and CEL rules), and wrong specs
//! are refused with a message naming the field. Reads the seed and CRD files: test-only I/O.

mod support;

use std::fs;
use std::path::PathBuf;

use kairos_api::{KairosNode, NodeOp, NodeOpUpgrade};
use serde::Deserialize;
use serde_json::{Value, json};
use support::Schemas;

/// The kinds of this project; YAML blocks of other kinds (bundles, RBAC snippets) are not ours.
const OUR_KINDS: [&str; 3] = ["NodeOp", "NodeOpUpgrade", "KairosNode"];

/// Where the seed documents are: `$KAIROS_SEEDS_DIR`, else `shared/seeds` beside the repository.
fn seeds_dir() -> PathBuf {
    match std::env::var_os("KAIROS_SEEDS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => support::repo_root().join("../shared/seeds"),
    }
}

/// One YAML example of our kinds found in a seed document.
struct Example {
    /// `file:line` of the fenced block, for messages.
    origin: String,
    object: Value,
}

/// The fenced ```` ```yaml ```` blocks of a Markdown text: (line of the fence, dedented body).
/// A fence may be indented (inside a list item); its body is dedented by the fence's indent.
fn yaml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    // (line, indent, is yaml, body) of the block being read.
    let mut open: Option<(usize, usize, bool, Vec<&str>)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.as_mut() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let lang = info.trim();
                    let indent = line.len() - trimmed.len();
                    open = Some((
                        index + 1,
                        indent,
                        lang == "yaml" || lang == "yml",
                        Vec::new(),
                    ));
                }
            }
            Some((start, indent, is_yaml, body)) => {
                if trimmed.trim_end() == "```" {
                    if *is_yaml {
                        let dedented: Vec<&str> = body
                            .iter()
                            .map(|l| {
                                let cut = l.len() - l.trim_start().len();
                                &l[cut.min(*indent)..]
                            })
                            .collect();
                        blocks.push((*start, dedented.join("\n")));
                    }
                    open = None;
                } else {
                    body.push(line);
                }
            }
        }
    }
    blocks
}

/// Whether a YAML block declares one of our kinds on a top-level `kind:` line.
fn mentions_our_kind(block: &str) -> bool {
    block.lines().any(|line| {
        line.strip_prefix("kind:")
            .is_some_and(|k| OUR_KINDS.contains(&k.trim().trim_matches('"')))
    })
}

/// Every example of our kinds in every seed document. A block that declares one of our kinds
/// must parse: a broken example is a failure, never a skip.
fn seed_examples() -> Vec<Example> {
    let dir = seeds_dir();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "cannot read the seed documents in {} ({e}); set KAIROS_SEEDS_DIR",
                dir.display()
            )
        })
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no seed document (*.txt) in {}",
        dir.display()
    );

    let mut examples = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let name = file
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        for (line, block) in yaml_blocks(&text) {
            let origin = format!("{name}:{line}");
            let ours = mentions_our_kind(&block);
            for document in serde_yaml::Deserializer::from_str(&block) {
                let object = match Value::deserialize(document) {
                    Ok(object) => object,
                    Err(e) if ours => panic!("{origin}: example of our kinds is not YAML: {e}"),
                    // Not ours, and not even YAML (an unclosed fence swallowed prose): skip.
                    Err(_) => break,
                };
                let kind = object
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if OUR_KINDS.contains(&kind) {
                    examples.push(Example {
                        origin: origin.clone(),
                        object,
                    });
                }
            }
        }
    }
    examples
}

/// Asserts every leaf of `seed` is present and equal in `typed` (the seed after a round trip
/// through the Rust type), so no seed field is silently dropped by serde.
fn assert_survives_round_trip(origin: &str, path: &str, seed: &Value, typed: &Value) {
    match (seed, typed) {
        (Value::Object(seed), Value::Object(typed)) => {
            for (key, value) in seed {
                let field = format!("{path}.{key}");
                let Some(other) = typed.get(key) else {
                    panic!("{origin}: {field} is dropped by the Rust type");
                };
                assert_survives_round_trip(origin, &field, value, other);
            }
        }
        _ => assert_eq!(seed, typed, "{origin}: {path} changes in a round trip"),
    }
}

#[test]
fn every_seed_example_is_accepted_unchanged() {
    let schemas = Schemas::load();
    let examples = seed_examples();

    // The test must not pass vacuously: the user docs hold a NodeOp and a firmware NodeOp.
    let names: Vec<&str> = examples
        .iter()
        .filter_map(|e| e.object["metadata"]["name"].as_str())
        .collect();
    assert!(
        examples.len() >= 2,
        "expected at least 2 seed examples, found {names:?}"
    );
    for expected in ["example-nodeop", "upgrade-firmware"] {
        assert!(
            names.contains(&expected),
            "seed example {expected} not found in {names:?}"
        );
    }

    let mut failures = Vec::new();
    for example in &examples {
        if let Err(errors) = schemas.validate(&example.object) {
            failures.push(format!("{}: {}", example.origin, errors.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "seed examples refused:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_seed_example_reads_into_the_rust_types_without_losing_a_field() {
    let examples = seed_examples();
    assert!(!examples.is_empty(), "no seed example found");
    for Example { origin, object } in &examples {
        let typed = match object["kind"].as_str() {
            Some("NodeOp") => serde_json::from_value::<NodeOp>(object.clone())
                .map(|o| serde_json::to_value(o).expect("serialize")),
            Some("NodeOpUpgrade") => serde_json::from_value::<NodeOpUpgrade>(object.clone())
                .map(|o| serde_json::to_value(o).expect("serialize")),
            Some("KairosNode") => serde_json::from_value::<KairosNode>(object.clone())
                .map(|o| serde_json::to_value(o).expect("serialize")),
            other => panic!("{origin}: unexpected kind {other:?}"),
        }
        .unwrap_or_else(|e| panic!("{origin}: does not read into the Rust type: {e}"));
        assert_survives_round_trip(origin, "spec", &object["spec"], &typed["spec"]);
    }
}

#[test]
fn the_extractor_skips_blocks_of_other_kinds_and_reads_indented_fences() {
    let text = "intro\n```yaml\nbundles:\n  - targets: [x]\n```\n- item\n    ```yaml\n    \
                apiVersion: operator.kairos.io/v1alpha1\n    kind: NodeOp\n    ```\n```sh\nls\n```\n";
    let blocks = yaml_blocks(text);
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert!(!mentions_our_kind(&blocks[0].1));
    assert!(mentions_our_kind(&blocks[1].1), "{:?}", blocks[1]);
    assert_eq!(blocks[1].0, 7);
}

// ---- wrong specs are refused, naming the field ----

/// A valid NodeOp (the seed's first example, abridged).
fn nodeop() -> Value {
    json!({
        "apiVersion": "operator.kairos.io/v1alpha1",
        "kind": "NodeOp",
        "metadata": { "name": "example-nodeop", "namespace": "default" },
        "spec": {
            "nodeSelector": { "matchLabels": { "kairos.io/managed": "true" } },
            "image": "busybox:latest",
            "command": ["sh", "-c", "cat /host/etc/kairos-release"],
            "hostMountPath": "/host",
            "cordon": true,
            "drainOptions": {
                "enabled": true, "force": false, "gracePeriodSeconds": 30,
                "ignoreDaemonSets": true, "deleteEmptyDirData": false, "timeoutSeconds": 300
            },
            "rebootOnSuccess": true,
            "backoffLimit": 3,
            "concurrency": 1,
            "stopOnFailure": true
        }
    })
}

/// A valid NodeOpUpgrade relying on the defaults (`upgradeActive` defaults to true).
fn nodeop_upgrade() -> Value {
    json!({
        "apiVersion": "operator.kairos.io/v1alpha1",
        "kind": "NodeOpUpgrade",
        "metadata": { "name": "kairos-upgrade", "namespace": "default" },
        "spec": {
            "image": "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1",
            "concurrency": 1,
            "stopOnFailure": true
        }
    })
}

/// A valid NodeOpConfig relying on the defaults (path, reboot, concurrency).
fn nodeop_config() -> Value {
    json!({
        "apiVersion": "operator.kairos.io/v1alpha1",
        "kind": "NodeOpConfig",
        "metadata": { "name": "edge", "namespace": "kairos-system" },
        "spec": {
            "nodeSelector": { "matchLabels": { "tier": "edge" } },
            "config": { "secretRef": { "name": "edge-config", "key": "cloud-config.yaml" } }
        }
    })
}

/// A valid KairosNode asking for a version from an explicit image.
fn kairos_node() -> Value {
    json!({
        "apiVersion": "operator.kairos.io/v1alpha1",
        "kind": "KairosNode",
        "metadata": { "name": "node-1" },
        "spec": {
            "version": "v3.6.0",
            "image": "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1"
        }
    })
}

/// Applies `edit` to a copy of `base` (which must itself be valid) and asserts the result is
/// refused with an error naming `field`.
fn assert_refused(base: Value, edit: impl FnOnce(&mut Value), field: &str) {
    let schemas = Schemas::load();
    if let Err(errors) = schemas.validate(&base) {
        panic!("the base object must be valid, but: {errors:?}");
    }
    let mut object = base;
    edit(&mut object);
    match schemas.validate(&object) {
        Ok(()) => panic!("accepted, but should be refused naming {field}: {object}"),
        Err(errors) => {
            let text = errors.join("; ");
            assert!(
                text.contains(field),
                "the error does not name {field}: {text}"
            );
        }
    }
}

fn spec(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    object["spec"].as_object_mut().expect("spec is an object")
}

#[test]
fn valid_bases_and_defaults_are_accepted() {
    let schemas = Schemas::load();
    for object in [nodeop(), nodeop_upgrade(), nodeop_config(), kairos_node()] {
        assert_eq!(schemas.validate(&object), Ok(()), "{object}");
    }
    // An empty KairosNode spec only observes; a NodeOp needs nothing but a command.
    let mut minimal = kairos_node();
    minimal["spec"] = json!({});
    assert_eq!(schemas.validate(&minimal), Ok(()));
    let mut minimal = nodeop();
    minimal["spec"] = json!({ "command": ["true"] });
    assert_eq!(schemas.validate(&minimal), Ok(()));
}

#[test]
fn nodeop_negative_concurrency_is_refused() {
    assert_refused(
        nodeop(),
        |o| o["spec"]["concurrency"] = json!(-1),
        "spec.concurrency",
    );
}

#[test]
fn nodeop_misspelt_field_is_refused_not_pruned() {
    assert_refused(
        nodeop(),
        |o| {
            let value = spec(o).remove("concurrency").expect("concurrency");
            spec(o).insert("concurency".into(), value);
        },
        "concurency",
    );
}

#[test]
fn nodeop_drain_without_cordon_is_refused_by_cel() {
    assert_refused(nodeop(), |o| o["spec"]["cordon"] = json!(false), "cordon");
    assert_refused(
        nodeop(),
        |o| {
            spec(o).remove("cordon");
        },
        "cordon",
    );
}

#[test]
fn nodeop_relative_host_mount_path_is_refused() {
    assert_refused(
        nodeop(),
        |o| o["spec"]["hostMountPath"] = json!("relative/path"),
        "hostMountPath",
    );
    assert_refused(
        nodeop(),
        |o| o["spec"]["hostMountPath"] = json!("/"),
        "hostMountPath",
    );
}

#[test]
fn nodeop_without_command_is_refused() {
    assert_refused(
        nodeop(),
        |o| {
            spec(o).remove("command");
        },
        "command",
    );
}

#[test]
fn nodeop_empty_target_node_name_is_refused() {
    assert_refused(
        nodeop(),
        |o| o["spec"]["targetNodes"] = json!(["node-1", ""]),
        "targetNodes",
    );
}

#[test]
fn nodeop_wrong_type_is_refused() {
    assert_refused(
        nodeop(),
        |o| o["spec"]["cordon"] = json!("yes"),
        "spec.cordon",
    );
}

#[test]
fn nodeop_upgrade_without_image_is_refused() {
    assert_refused(
        nodeop_upgrade(),
        |o| {
            spec(o).remove("image");
        },
        "image",
    );
}

#[test]
fn nodeop_upgrade_upgrading_nothing_is_refused_by_cel() {
    assert_refused(
        nodeop_upgrade(),
        |o| {
            o["spec"]["upgradeActive"] = json!(false);
            o["spec"]["upgradeRecovery"] = json!(false);
        },
        "upgradeRecovery",
    );
}

#[test]
fn kairos_node_image_without_version_is_refused_by_cel() {
    assert_refused(
        kairos_node(),
        |o| {
            spec(o).remove("version");
        },
        "version",
    );
}

#[test]
fn kairos_node_config_in_its_documented_shape_is_accepted() {
    let schemas = Schemas::load();
    for config in [
        json!({"secretRef": {"name": "edge-config", "key": "cloud-config.yaml"}}),
        json!({"configMapRef": {"name": "c", "key": "k"}, "path": "/oem/91_site.yaml",
               "reboot": false, "runStage": "network"}),
    ] {
        let mut o = kairos_node();
        spec(&mut o).insert("config".into(), config);
        assert_eq!(schemas.validate(&o), Ok(()), "{o}");
    }
    let mut o = kairos_node();
    spec(&mut o).insert("upgradeRecovery".into(), json!(true));
    spec(&mut o).insert(
        "recoveryImage".into(),
        json!("quay.io/kairos/ubuntu:recovery"),
    );
    assert_eq!(schemas.validate(&o), Ok(()), "{o}");
}

#[test]
fn kairos_node_config_that_makes_no_sense_is_refused_naming_the_field() {
    let with = |config: Value| {
        move |o: &mut Value| {
            spec(o).insert("config".into(), config);
        }
    };
    let secret = json!({"name": "s", "key": "k"});
    assert_refused(kairos_node(), with(json!({})), "configMapRef");
    assert_refused(
        kairos_node(),
        with(json!({"secretRef": secret, "configMapRef": secret})),
        "configMapRef",
    );
    for path in [
        "/etc/shadow",
        "/oem/../etc/x.yaml",
        "/oem/sub/x.yaml",
        "/oem/x.conf",
        "/oem/.yaml",
    ] {
        assert_refused(
            kairos_node(),
            with(json!({"secretRef": secret, "path": path})),
            "path",
        );
    }
    assert_refused(
        kairos_node(),
        with(json!({"secretRef": secret, "runStage": "boot; reboot"})),
        "runStage",
    );
    assert_refused(
        kairos_node(),
        |o| {
            spec(o).insert(
                "recoveryImage".into(),
                json!("quay.io/kairos/ubuntu:recovery"),
            );
        },
        "recoveryImage",
    );
}

#[test]
fn nodeop_config_refuses_what_a_kairos_node_config_refuses_and_a_negative_concurrency() {
    let schemas = Schemas::load();
    let mut full = nodeop_config();
    spec(&mut full).insert("concurrency".into(), json!(2));
    spec(&mut full).insert("stopOnFailure".into(), json!(true));
    full["spec"]["config"] = json!({"configMapRef": {"name": "c", "key": "k"},
        "path": "/oem/91_site.yaml", "reboot": false, "runStage": "network"});
    assert_eq!(schemas.validate(&full), Ok(()), "{full}");
    let secret = json!({"name": "s", "key": "k"});
    assert_refused(
        nodeop_config(),
        |o| o["spec"]["config"] = json!({"secretRef": secret, "configMapRef": secret}),
        "configMapRef",
    );
    assert_refused(
        nodeop_config(),
        |o| o["spec"]["config"]["path"] = json!("/etc/shadow"),
        "path",
    );
    assert_refused(
        nodeop_config(),
        |o| o["spec"]["concurrency"] = json!(-1),
        "spec.concurrency",
    );
    assert_refused(
        nodeop_config(),
        |o| {
            spec(o).remove("config");
        },
        "config",
    );
}

#[test]
fn kind_not_served_is_refused() {
    assert_refused(
        nodeop(),
        |o| o["apiVersion"] = json!("kairos.io/v1alpha1"),
        "apiVersion",
    );
}

#[test]
fn gates_in_their_documented_shape_are_accepted() {
    let schemas = Schemas::load();
    let gates = json!({
        "window": {"days": ["saturday", "sun", "0"], "startTime": "22:00", "endTime": "4:30", "timeZone": "Europe/Berlin"},
        "postCompleteDelay": "1h30m",
        "blockingPodSelector": {"matchLabels": {"app": "backup"}},
        "alertGate": {"alertNames": "KubeNodeNotReady|etcd.*", "firingOnly": false},
    });
    for base in [nodeop(), nodeop_upgrade()] {
        let mut object = base;
        for (k, v) in gates.as_object().expect("an object") {
            spec(&mut object).insert(k.clone(), v.clone());
        }
        assert_eq!(schemas.validate(&object), Ok(()), "{object}");
    }
    let mut object = nodeop();
    spec(&mut object).insert("resources".into(), json!({"limits": {"cpu": "1"}}));
    spec(&mut object).insert("rebootResources".into(), json!({}));
    assert_eq!(schemas.validate(&object), Ok(()), "{object}");
}

#[test]
fn gates_that_make_no_sense_are_refused_naming_the_field() {
    for base in [nodeop(), nodeop_upgrade()] {
        let window = |w: Value| move |o: &mut Value| o["spec"]["window"] = w;
        assert_refused(
            base.clone(),
            window(json!({"days": ["funday"], "startTime": "01:00", "endTime": "02:00"})),
            "days",
        );
        assert_refused(
            base.clone(),
            window(json!({"startTime": "25:00", "endTime": "02:00"})),
            "startTime",
        );
        assert_refused(
            base.clone(),
            window(json!({"startTime": "01:00", "endTime": "noon"})),
            "endTime",
        );
        assert_refused(
            base.clone(),
            window(json!({"startTime": "01:00"})),
            "endTime",
        );
        assert_refused(
            base.clone(),
            |o| o["spec"]["postCompleteDelay"] = json!("5 minutes"),
            "postCompleteDelay",
        );
        assert_refused(
            base.clone(),
            |o| o["spec"]["alertGate"] = json!({"alertNames": ""}),
            "alertNames",
        );
    }
}

#[test]
fn kairos_node_version_that_is_no_kairos_version_is_refused() {
    for version in ["banana", "latest", "v3.6", "3.6.0 "] {
        assert_refused(
            kairos_node(),
            |o| o["spec"]["version"] = json!(version),
            "Kairos version",
        );
    }
}

#[test]
fn kairos_node_version_longer_than_64_characters_is_refused() {
    assert_refused(
        kairos_node(),
        |o| o["spec"]["version"] = json!(format!("v3.6.0-rc{}", "1".repeat(60))),
        "version",
    );
}

#[test]
fn kairos_node_pre_release_versions_are_accepted() {
    let schemas = Schemas::load();
    for version in ["v3.6.0-rc1", "3.6.0", "v3.6.0-beta.2", "v3.6.0-alpha"] {
        let mut object = kairos_node();
        object["spec"]["version"] = json!(version);
        assert_eq!(schemas.validate(&object), Ok(()), "{version}");
    }
}

#[test]
fn nodeop_root_as_host_mount_path_is_refused() {
    assert_refused(
        nodeop(),
        |o| o["spec"]["hostMountPath"] = json!("/"),
        "hostMountPath",
    );
}

#[test]
fn nodeop_job_timeout_and_drain_timeout_of_zero_are_refused() {
    assert_refused(
        nodeop(),
        |o| o["spec"]["jobTimeoutSeconds"] = json!(0),
        "jobTimeoutSeconds",
    );
    assert_refused(
        nodeop(),
        |o| o["spec"]["drainOptions"]["timeoutSeconds"] = json!(0),
        "timeoutSeconds",
    );
}

#[test]
fn nodeop_negative_backoff_limit_is_refused() {
    assert_refused(
        nodeop(),
        |o| o["spec"]["backoffLimit"] = json!(-1),
        "backoffLimit",
    );
}

#[test]
fn nodeop_preflight_without_command_is_refused() {
    assert_refused(
        nodeop(),
        |o| o["spec"]["preflight"] = json!({"command": []}),
        "command",
    );
}

#[test]
fn nodeop_upgrade_negative_concurrency_is_refused() {
    assert_refused(
        nodeop_upgrade(),
        |o| o["spec"]["concurrency"] = json!(-1),
        "concurrency",
    );
}

#[test]
fn nodeop_without_cordon_or_drain_is_accepted() {
    let schemas = Schemas::load();
    let mut object = nodeop();
    object["spec"]["drainOptions"] = json!({"enabled": false});
    object["spec"]["cordon"] = json!(false);
    assert_eq!(schemas.validate(&object), Ok(()));
}
