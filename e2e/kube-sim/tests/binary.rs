//! The `kube-sim` binary: started as a process, it writes a kubeconfig through which a client
//! finds the built-in namespaces and the project's CRDs. Does process, file and API I/O.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().expect("its address").port()
}

/// A client from the kubeconfig at `path`.
async fn client_from(path: &Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(path).expect("the kubeconfig parses");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("a client configuration");
    Client::try_from(cfg).expect("a client")
}

#[tokio::test]
async fn sim_kube_sim_binary_serves_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let port = free_port();
    let _child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args([
            "--port",
            &port.to_string(),
            "--kubeconfig-out",
            kc.to_str().unwrap(),
        ])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !kc.exists() {
        assert!(tokio::time::Instant::now() < deadline, "no kubeconfig");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = client_from(&kc).await;
    let names: Vec<String> = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert!(names.contains(&"default".to_string()), "{names:?}");
    let crds = client
        .list_api_group_resources("operator.kairos.io/v1alpha1")
        .await
        .unwrap();
    let mut plurals: Vec<&str> = crds.resources.iter().map(|r| r.name.as_str()).collect();
    plurals.sort();
    assert_eq!(
        plurals,
        [
            "kairosnodes",
            "kairosnodes/status",
            "nodeopconfigs",
            "nodeopconfigs/status",
            "nodeops",
            "nodeops/status",
            "nodeoptargets",
            "nodeoptargets/status",
            "nodeopupgrades",
            "nodeopupgrades/status"
        ]
    );
}
