use serde_json::json;

use super::{SUMS, has_package, sha256sums};

#[test]
fn sums_cover_every_file_but_themselves_in_sha256sum_format() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("install.yaml"), "abc").expect("written");
    std::fs::write(dir.path().join("empty"), "").expect("written");
    std::fs::write(dir.path().join(SUMS), "stale").expect("written");
    std::fs::create_dir(dir.path().join("sub")).expect("created");
    assert_eq!(
        sha256sums(dir.path()).expect("summed"),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty\n\
         ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  install.yaml\n"
    );
}

#[test]
fn the_plugin_is_built_only_when_the_workspace_has_it() {
    let metadata = json!({"packages": [{"name": "kairos-operator"}, {"name": "xtask"}]});
    assert!(has_package(&metadata, "xtask"));
    assert!(!has_package(&metadata, "kubectl-kairos"));
    assert!(!has_package(&json!({}), "xtask"));
}
