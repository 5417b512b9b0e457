//! The admin HTTP server: `/livez` (the process runs), `/readyz` (caches synced, gRPC bound, no
//! API request refused for lack of permission, not shutting down; a refusal is named in the
//! answer) and `/metrics` (Prometheus text). Does network I/O.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::permissions::Permissions;

/// What the admin server shows.
#[derive(Clone)]
pub(crate) struct AdminState {
    /// True while the operator is ready to serve.
    pub(crate) ready: watch::Receiver<bool>,
    /// The metrics registry rendered at `/metrics`.
    pub(crate) registry: Arc<Registry>,
    /// The API requests refused for lack of permission, named by `/readyz`.
    pub(crate) permissions: Permissions,
}

/// The router of the admin server.
pub(crate) fn router(state: AdminState) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if *state.ready.borrow() {
        return (StatusCode::OK, "ready".to_owned());
    }
    let missing = state.permissions.missing();
    if missing.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the API server refuses (RBAC): {}",
                missing.join("; ")
            ),
        )
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to encode metrics: {e}"),
        )
            .into_response(),
    }
}

/// Serves the admin endpoints on `addr` until `shutdown` resolves.
pub(crate) async fn serve(
    addr: SocketAddr,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("failed to bind the admin server to {addr}: {e}"))?;
    tracing::info!(%addr, "admin server listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| anyhow::anyhow!("admin server failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn status(router: Router, path: &str) -> StatusCode {
        router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn readyz_follows_the_readiness_signal() {
        let (tx, rx) = watch::channel(false);
        let mut registry = Registry::default();
        let permissions = Permissions::register(&mut registry);
        let state = AdminState {
            ready: rx,
            registry: Arc::new(registry),
            permissions,
        };
        assert_eq!(
            status(router(state.clone()), "/readyz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(router(state.clone()), "/livez").await,
            StatusCode::OK
        );
        tx.send(true).unwrap();
        assert_eq!(
            status(router(state.clone()), "/readyz").await,
            StatusCode::OK
        );
        tx.send(false).unwrap();
        assert_eq!(
            status(router(state), "/readyz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn readyz_names_what_the_api_server_refuses() {
        use crate::permissions::{Access, Classified};
        let (_tx, rx) = watch::channel(false);
        let permissions = Permissions::register(&mut Registry::default());
        let lease_watch = Classified {
            access: Access {
                verb: "watch",
                resource: "leases.coordination.k8s.io".into(),
            },
            namespace: Some("kairos-system".into()),
        };
        permissions.refused(&lease_watch, "leases.coordination.k8s.io is forbidden");
        let state = AdminState {
            ready: rx,
            registry: Arc::new(Registry::default()),
            permissions,
        };
        let response = router(state)
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&body),
            "not ready: the API server refuses (RBAC): watch leases.coordination.k8s.io in kairos-system"
        );
    }

    #[tokio::test]
    async fn metrics_render_as_openmetrics_text() {
        let (_tx, rx) = watch::channel(true);
        let mut registry = Registry::with_prefix("kairos");
        let permissions = Permissions::register(&mut registry);
        let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
        registry.register("test_events", "A test counter", counter.clone());
        counter.inc();
        let state = AdminState {
            ready: rx,
            registry: Arc::new(registry),
            permissions,
        };
        let response = router(state)
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("kairos_test_events_total 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
