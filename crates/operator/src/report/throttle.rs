//! A bound on the report channel's concurrent API requests: [`limited`] gives a client whose
//! every request holds one of a fixed number of slots until the API server answers. Thousands
//! of agents reporting at once (after an operator restart, say) then queue here, in the
//! operator, instead of flooding the API server, where the leader's lease renewals and the
//! controllers' requests would wait behind them. Does no I/O of its own.

use kube::client::Body;

/// `client`'s connection, with at most `slots` (at least one) requests in flight at once; the
/// others wait in turn.
pub fn limited(client: kube::Client, slots: usize) -> kube::Client {
    let namespace = client.default_namespace().to_owned();
    let service = tower::ServiceBuilder::new()
        .concurrency_limit(slots.max(1))
        .service_fn(move |request: axum::http::Request<Body>| {
            let client = client.clone();
            async move { client.send(request).await }
        });
    kube::Client::new(service, namespace)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use k8s_openapi::api::core::v1::Pod;
    use kube::Api;

    use super::*;

    /// An API server that counts how many requests it holds at once and answers 404.
    fn probe(now: Arc<AtomicUsize>, most: Arc<AtomicUsize>) -> kube::Client {
        let service = tower::service_fn(move |_: axum::http::Request<Body>| {
            let (now, most) = (now.clone(), most.clone());
            async move {
                let held = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(held, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;
                let mut response = axum::http::Response::new(Body::from(body.as_bytes().to_vec()));
                *response.status_mut() = axum::http::StatusCode::NOT_FOUND;
                Ok::<_, kube::Error>(response)
            }
        });
        kube::Client::new(service, "kairos-system")
    }

    #[tokio::test]
    async fn never_more_requests_at_once_than_slots_and_every_answer_comes_through() {
        let (now, most) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
        let client = limited(probe(now, most.clone()), 3);
        assert_eq!(client.default_namespace(), "kairos-system");
        let pods: Api<Pod> = Api::default_namespaced(client);
        let calls = (0..40).map(|i| {
            let pods = pods.clone();
            async move { pods.get_opt(&format!("p{i}")).await }
        });
        for answer in futures::future::join_all(calls).await {
            assert!(answer.expect("a 404 is an answer").is_none());
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
