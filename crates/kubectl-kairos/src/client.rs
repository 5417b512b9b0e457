//! The API client from kubectl's connection flags: the kubeconfig (`--kubeconfig`, else
//! `$KUBECONFIG` or `~/.kube/config`, else in-cluster), context, cluster and user, and the
//! namespace. I/O: reads the kubeconfig.

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::cli::Connection;

/// A client and the namespace of operations (`--namespace`, else the context's).
///
/// # Errors
/// When the kubeconfig cannot be read or names no usable cluster.
pub(crate) async fn connect(c: &Connection) -> anyhow::Result<(Client, String)> {
    let opts = KubeConfigOptions {
        context: c.context.clone(),
        cluster: c.cluster.clone(),
        user: c.user.clone(),
    };
    let config = match &c.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &opts).await?
        }
        None if opts.context.is_some() || opts.cluster.is_some() || opts.user.is_some() => {
            Config::from_kubeconfig(&opts).await?
        }
        None => Config::infer().await?,
    };
    let namespace = c
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).context("cannot build the API client")?;
    Ok((client, namespace))
}
