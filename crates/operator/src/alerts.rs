//! The active Prometheus alerts, for the operations' alert gates (`--prometheus-url`): one
//! `GET /api/v1/alerts` at most every [`FRESH_FOR`] whatever the number of operations, each
//! bounded by [`TIMEOUT`]. Does HTTP I/O; judging the answer is `kairos_core::gates::alerts`.

use std::sync::Mutex;
use std::time::Duration;

use axum::http::{Request, Uri};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kairos_core::gates::alerts::{Alert, parse_alerts};
use tokio::time::Instant;

/// How long one answer serves every operation.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(5);
/// How long Prometheus may take to answer.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read (a few thousand alerts).
const MAX_BODY: usize = 8 << 20;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// What the operator knows of Prometheus' alerts: the list, or why it has none.
pub(crate) type Answer = Result<Vec<Alert>, String>;

/// Prometheus' alerts API, behind a short cache.
pub(crate) struct AlertSource {
    url: Uri,
    client: Client<Https, Empty<bytes::Bytes>>,
    last: Mutex<Option<(Instant, Answer)>>,
    fetching: tokio::sync::Mutex<()>,
}

impl AlertSource {
    /// A source reading `base` (`http://prometheus.monitoring:9090`, with or without a path
    /// prefix), trusting the system's certificate authorities for `https`.
    pub(crate) fn new(base: &str) -> anyhow::Result<Self> {
        let url: Uri = format!("{}/api/v1/alerts", base.trim_end_matches('/'))
            .parse()
            .map_err(|e| anyhow::anyhow!("--prometheus-url {base:?} is not a URL: {e}"))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) {
            anyhow::bail!("--prometheus-url {base:?} must start with http:// or https://");
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| {
                anyhow::anyhow!("failed to load the system's certificate authorities: {e}")
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            url,
            client: Client::builder(TokioExecutor::new()).build(connector),
            last: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The alerts, from an answer at most [`FRESH_FOR`] old; an error says why there is none.
    pub(crate) async fn alerts(&self) -> Answer {
        if let Some(answer) = self.fresh() {
            return answer;
        }
        // One request at a time; the others wait for its answer.
        let _fetching = self.fetching.lock().await;
        if let Some(answer) = self.fresh() {
            return answer;
        }
        let answer = self.fetch().await;
        if let Err(e) = &answer {
            tracing::debug!(url = %self.url, error = %e, "failed to read Prometheus' alerts");
        }
        *self.lock() = Some((Instant::now(), answer.clone()));
        answer
    }

    fn fresh(&self) -> Option<Answer> {
        let last = self.lock();
        let (at, answer) = last.as_ref()?;
        (at.elapsed() < FRESH_FOR).then(|| answer.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Answer)>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch(&self) -> Answer {
        let unreachable = |e: String| format!("Prometheus at {} cannot be read: {e}", self.url);
        let request = Request::get(self.url.clone())
            .header("accept", "application/json")
            .body(Empty::new())
            .map_err(|e| unreachable(e.to_string()))?;
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| unreachable(format!("no answer within {}s", TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let body = tokio::time::timeout(
            TIMEOUT,
            Limited::new(response.into_body(), MAX_BODY).collect(),
        )
        .await
        .map_err(|_| unreachable(format!("no answer within {}s", TIMEOUT.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
        if !status.is_success() && body.is_empty() {
            return Err(unreachable(format!("HTTP {status}")));
        }
        parse_alerts(&body)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A fake Prometheus answering `body` with `status`, counting requests.
    async fn prometheus(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new().route(
            "/prom/api/v1/alerts",
            axum::routing::get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    (
                        axum::http::StatusCode::from_u16(status).expect("a status"),
                        body,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/prom/"), hits)
    }

    #[tokio::test]
    async fn alerts_are_read_once_per_freshness_window() {
        let (url, hits) = prometheus(
            200,
            r#"{"status":"success","data":{"alerts":[{"labels":{"alertname":"NodeDown"},"state":"firing"}]}}"#,
        )
        .await;
        let source = AlertSource::new(&url).expect("a source");
        for _ in 0..5 {
            let alerts = source.alerts().await.expect("alerts");
            assert_eq!(alerts[0].name, "NodeDown");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_error_answer_or_no_server_says_why() {
        let (url, _) = prometheus(503, r#"{"status":"error","error":"overloaded"}"#).await;
        let e = AlertSource::new(&url).expect("a source").alerts().await;
        assert!(e.expect_err("an error").contains("overloaded"));
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds")
            .local_addr()
            .expect("an address");
        let e = AlertSource::new(&format!("http://{closed}"))
            .expect("a source")
            .alerts()
            .await
            .expect_err("nothing listens");
        assert!(e.contains("cannot be read"), "{e}");
        assert!(AlertSource::new("ftp://x").is_err());
        assert!(AlertSource::new("not a url").is_err());
    }
}
