//! The source's annotation round trip, what the engine accepts, and the Job's volume.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kairos_api::names::{ANNOTATION_CONFIG_SOURCE, LABEL_KAIROSNODE_CONFIG, LABEL_NODEOP_CONFIG};
use kairos_api::v1alpha1::{ConfigKeyRef, NodeConfigSpec, NodeOp};

use crate::cloud_config::source::{ConfigSource, MOUNT_DIR, MOUNTED_FILE, SourceKind};

fn spec(secret: bool) -> NodeConfigSpec {
    let r = Some(ConfigKeyRef {
        name: "node-config".into(),
        key: "cloud-config.yaml".into(),
    });
    NodeConfigSpec {
        secret_ref: if secret { r.clone() } else { None },
        config_map_ref: if secret { None } else { r },
        path: "/oem/90_kairos-operator.yaml".into(),
        reboot: None,
        run_stage: None,
    }
}

#[test]
fn annotation_round_trips_and_refuses_what_it_never_writes() {
    for secret in [true, false] {
        let s = ConfigSource::of(&spec(secret)).unwrap();
        assert_eq!(ConfigSource::parse(&s.annotation()), Some(s.clone()));
    }
    assert_eq!(
        ConfigSource::of(&spec(true)).unwrap().annotation(),
        "secret/node-config/cloud-config.yaml"
    );
    for bad in [
        "",
        "secret",
        "secret/x",
        "pod/x/y",
        "secret/UPPER/key",
        "secret/x/a/b",
        "secret/x/..",
        "configmap/x/",
    ] {
        assert_eq!(ConfigSource::parse(bad), None, "{bad}");
    }
}

#[test]
fn only_a_labelled_nodeop_names_a_source() {
    let mut op = NodeOp {
        metadata: ObjectMeta {
            annotations: Some([(ANNOTATION_CONFIG_SOURCE.into(), "secret/a/b".into())].into()),
            ..ObjectMeta::default()
        },
        spec: serde_json::from_value(serde_json::json!({"command": ["true"]})).unwrap(),
        status: None,
    };
    assert_eq!(ConfigSource::of_nodeop(&op), None);
    op.metadata.labels = Some([(LABEL_KAIROSNODE_CONFIG.into(), "n1".into())].into());
    let s = ConfigSource::of_nodeop(&op).unwrap();
    assert_eq!(
        (s.kind, s.name.as_str(), s.key.as_str()),
        (SourceKind::Secret, "a", "b")
    );
    // A NodeOpConfig's NodeOp names its source the same way.
    op.metadata.labels = Some([(LABEL_NODEOP_CONFIG.into(), "edge".into())].into());
    assert_eq!(ConfigSource::of_nodeop(&op), Some(s));
    op.metadata.labels = Some([("app".into(), "x".into())].into());
    assert_eq!(ConfigSource::of_nodeop(&op), None);
}

#[test]
fn the_volume_mounts_one_key_read_only_and_private() {
    let (volume, mount) = ConfigSource::of(&spec(true)).unwrap().volume();
    let secret = volume.secret.unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("node-config"));
    assert_eq!(secret.default_mode, Some(0o400));
    let items = secret.items.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].key.as_str(), items[0].path.as_str()),
        ("cloud-config.yaml", MOUNTED_FILE)
    );
    assert_eq!(
        (mount.mount_path.as_str(), mount.read_only),
        (MOUNT_DIR, Some(true))
    );
    let (volume, _) = ConfigSource::of(&spec(false)).unwrap().volume();
    assert_eq!(volume.config_map.unwrap().name, "node-config");
}
