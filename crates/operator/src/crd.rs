//! Waits until the project's CustomResourceDefinitions are served, so the controllers start only
//! when their kinds exist. Reads from the API server.

use std::time::Duration;

use kairos_api::{KairosNode, NodeOp, NodeOpConfig, NodeOpUpgrade};
use kube::api::{Api, ListParams};

/// Returns once every kind of the project can be listed; logs what is missing meanwhile.
///
/// # Errors
/// Never for a missing CRD (it waits); only when the API server refuses for another reason
/// (e.g. RBAC), which waiting would not fix.
pub(crate) async fn wait_until_installed(client: &kube::Client) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(250);
    loop {
        match missing(client).await {
            Ok(missing) if missing.is_empty() => return Ok(()),
            Ok(missing) => tracing::warn!(
                missing = ?missing,
                "CustomResourceDefinitions are not installed yet (kubectl apply -k deploy/default); waiting"
            ),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

async fn missing(client: &kube::Client) -> anyhow::Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    let lp = ListParams::default().limit(1);
    let checks = [
        (
            "kairosnodes.operator.kairos.io",
            Api::<KairosNode>::all(client.clone())
                .list_metadata(&lp)
                .await
                .map(|_| ()),
        ),
        (
            "nodeops.operator.kairos.io",
            Api::<NodeOp>::all(client.clone())
                .list_metadata(&lp)
                .await
                .map(|_| ()),
        ),
        (
            "nodeopconfigs.operator.kairos.io",
            Api::<NodeOpConfig>::all(client.clone())
                .list_metadata(&lp)
                .await
                .map(|_| ()),
        ),
        (
            "nodeopupgrades.operator.kairos.io",
            Api::<NodeOpUpgrade>::all(client.clone())
                .list_metadata(&lp)
                .await
                .map(|_| ()),
        ),
    ];
    for (name, result) in checks {
        match result {
            Ok(()) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => missing.push(name),
            Err(e) => return Err(anyhow::anyhow!("failed to list {name}: {e}")),
        }
    }
    Ok(missing)
}
