//! Tests of whether an upgrade image fits a node.

use super::*;

fn node(flavor: &str, variant: &str, arch: &str, prefix: &str, software: &str) -> KairosInfo {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    KairosInfo {
        flavor: some(flavor),
        variant: some(variant),
        arch: some(arch),
        software_version_prefix: some(prefix),
        software_version: some(software),
        ..KairosInfo::default()
    }
}

const UBUNTU_K3S: &str =
    "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1";

#[test]
fn a_kairos_reference_says_all_four() {
    assert_eq!(
        System::of_image(UBUNTU_K3S),
        System {
            flavor: Some("ubuntu".into()),
            variant: Some("standard".into()),
            arch: Some("amd64".into()),
            kubernetes: Some("k3s".into()),
        }
    );
    let core = System::of_image("quay.io/kairos/alpine:3.21-core-arm64-rpi4-v3.6.0");
    assert_eq!(core.kubernetes.as_deref(), Some("none"));
    assert_eq!(core.arch.as_deref(), Some("arm64"));
    assert_eq!(
        System::of_image("registry.local:5000/my-os:v3.6.0"),
        System::default()
    );
}

#[test]
fn the_same_system_fits_and_each_difference_is_named_with_both_sides() {
    let ubuntu = node("ubuntu", "standard", "amd64", "k3s", "v1.33.1+k3s1");
    assert!(misfits(UBUNTU_K3S, &ubuntu).is_empty());
    let alpine_k0s = node("alpine", "standard", "amd64", "k0s", "v1.33.1+k0s.0");
    assert_eq!(
        misfits(UBUNTU_K3S, &alpine_k0s),
        [
            "flavor: image ubuntu, node alpine",
            "Kubernetes distribution: image k3s, node k0s"
        ]
    );
    let core = node("ubuntu", "core", "amd64", "", "");
    assert_eq!(
        misfits(UBUNTU_K3S, &core),
        [
            "variant: image standard, node core",
            "Kubernetes distribution: image k3s, node none"
        ]
    );
    let arm = node("ubuntu", "standard", "arm64", "k3s", "v1.33.1+k3s1");
    assert_eq!(
        misfits(UBUNTU_K3S, &arm),
        ["architecture: image amd64, node arm64"]
    );
}

#[test]
fn what_either_side_does_not_say_is_not_judged() {
    let unknown = KairosInfo::default();
    assert!(misfits(UBUNTU_K3S, &unknown).is_empty());
    let ubuntu = node("ubuntu", "standard", "amd64", "k3s", "v1.33.1+k3s1");
    assert!(misfits("registry.local:5000/my-os:v3.6.0", &ubuntu).is_empty());
}

#[test]
fn an_image_from_the_nodes_own_repository_is_of_its_flavor() {
    let mut custom = node("ubuntu", "standard", "amd64", "k3s", "v1.33.1+k3s1");
    custom.image_repo = Some("registry.local:5000/edge/kairos-alpine-fork".into());
    let image = "registry.local:5000/edge/kairos-alpine-fork:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1";
    assert!(misfits(image, &custom).is_empty());
}

#[test]
fn a_node_reporting_kernel_architecture_names_fits_go_names() {
    let x86 = node("ubuntu", "standard", "x86_64", "k3s", "v1.33.1+k3s1");
    assert!(misfits(UBUNTU_K3S, &x86).is_empty());
    let aarch = node("ubuntu", "standard", "aarch64", "k3s", "v1.33.1+k3s1");
    assert_eq!(
        misfits(UBUNTU_K3S, &aarch),
        ["architecture: image amd64, node arm64"]
    );
}

#[test]
fn node_reports_are_read_without_case_or_surrounding_spaces() {
    let shouting = node("Ubuntu", " Standard ", "AMD64", "K3S", "v1.33.1+k3s1");
    assert!(misfits(UBUNTU_K3S, &shouting).is_empty());
}

#[test]
fn a_flavor_with_its_release_in_the_name_is_the_flavor() {
    let leap = node("opensuse-leap", "standard", "amd64", "k3s", "v1.33.1+k3s1");
    let image = "quay.io/kairos/opensuse:leap-15.6-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1";
    assert!(misfits(image, &leap).is_empty());
    assert_eq!(System::of_node(&leap).flavor.as_deref(), Some("opensuse"));
}

#[test]
fn a_node_without_a_flavor_takes_it_from_its_image_repository() {
    let mut anonymous = node("", "standard", "amd64", "k3s", "v1.33.1+k3s1");
    anonymous.image_repo = Some("quay.io/kairos/debian".into());
    assert_eq!(
        misfits(UBUNTU_K3S, &anonymous),
        ["flavor: image ubuntu, node debian"]
    );
}

#[test]
fn a_digest_reference_says_only_its_flavor() {
    assert_eq!(
        System::of_image("quay.io/kairos/alpine@sha256:0123abcd"),
        System {
            flavor: Some("alpine".into()),
            ..System::default()
        }
    );
}

#[test]
fn the_own_repository_rule_holds_with_a_registry_port_and_a_digest() {
    let mut custom = node("ubuntu", "standard", "amd64", "k3s", "v1.33.1+k3s1");
    custom.image_repo = Some("localhost:5000/kairos/alpine-custom".into());
    assert!(
        misfits(
            "localhost:5000/kairos/alpine-custom@sha256:0123abcd",
            &custom
        )
        .is_empty()
    );
    assert_eq!(
        misfits("localhost:5000/kairos/alpine@sha256:0123abcd", &custom),
        ["flavor: image alpine, node ubuntu"]
    );
}

#[test]
fn a_k0s_image_is_told_from_a_k3s_node() {
    let k3s = node("ubuntu", "standard", "amd64", "k3s", "v1.33.1+k3s1");
    assert_eq!(
        misfits(
            "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k0sv1.33.1-k0s.0",
            &k3s
        ),
        ["Kubernetes distribution: image k0s, node k3s"]
    );
}

#[test]
fn a_uki_image_and_a_grub_node_disagree_either_way_naming_both() {
    let uki = "registry.local/edge/uki:v3.6.0";
    let m = boot_misfit("n1", uki, true, Some(false)).unwrap_or_default();
    assert!(
        m.contains("n1") && m.contains(uki) && m.contains("does not boot trusted"),
        "{m}"
    );
    let m = boot_misfit("n1", UBUNTU_K3S, false, Some(true)).unwrap_or_default();
    assert!(
        m.contains("n1") && m.contains(UBUNTU_K3S) && m.contains("boots trusted"),
        "{m}"
    );
}

#[test]
fn matching_or_unreported_boot_kinds_fit() {
    assert_eq!(boot_misfit("n1", "x:v3.6.0", true, Some(true)), None);
    assert_eq!(boot_misfit("n1", UBUNTU_K3S, false, Some(false)), None);
    assert_eq!(boot_misfit("n1", "x:v3.6.0", true, None), None);
    assert_eq!(boot_misfit("n1", UBUNTU_K3S, false, None), None);
}
