use super::*;

#[test]
fn version_from_kairos_image_tags() {
    assert_eq!(
        version_in_image(
            "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1"
        )
        .as_deref(),
        Some("v3.6.0")
    );
    assert_eq!(
        version_in_image("quay.io/kairos/alpine:3.21-core-amd64-generic-v3.5.1").as_deref(),
        Some("v3.5.1")
    );
    assert_eq!(version_in_image("busybox:latest"), None);
    assert_eq!(version_in_image("busybox"), None);
    assert_eq!(version_in_image("reg:5000/img"), None);
}
