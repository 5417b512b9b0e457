//! Limits of what a write may carry: etcd's request size limit on the stored object (1.5 MiB by
//! default), the API server's 3 MiB limit on request bodies, and the range of `int32` fields of
//! custom resources. Does API I/O.

use crate::prelude::*;

/// etcd's default `--max-request-bytes`.
const ETCD_LIMIT: usize = 1_572_864;
/// The API server's `MaxRequestBodyBytes`.
const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// The Status of an API error.
fn status<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Asserts the answer of a real server whose etcd refused the write: etcd's error passed
/// through as a 500 without a reason.
fn assert_etcd_too_large(s: &Status, what: &str) {
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (500, "", "etcdserver: request is too large"),
        "{what}: {s:?}"
    );
}

fn big_cm(name: &str, bytes: usize) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"blob": "a".repeat(bytes)}}))
        .expect("cm")
}

#[tokio::test]
async fn conformance_objects_over_the_etcd_request_limit_are_refused() {
    let (c, ns) = cluster("conf-etcd-limit").await;
    let api = cms(&c.client(), &ns);
    let pp = PostParams::default();

    // Data alone as large as the limit: the stored object (metadata, managedFields) is over it
    // on either backend; 8 KiB less is under it on either (etcd adds the key and some framing).
    let over = status(api.create(&pp, &big_cm("over", ETCD_LIMIT)).await);
    assert_etcd_too_large(&over, "create");
    assert_eq!(
        api_err(api.get("over").await),
        (404, "NotFound".into()),
        "nothing is stored"
    );
    let under = api
        .create(&pp, &big_cm("under", ETCD_LIMIT - 8192))
        .await
        .expect("an object just under the limit is stored");

    // Growing it past the limit fails the same way, and changes nothing.
    let grow = json!({"data": {"more": "b".repeat(16 * 1024)}});
    let s = status(
        api.patch("under", &PatchParams::default(), &Patch::Merge(&grow))
            .await,
    );
    assert_etcd_too_large(&s, "merge patch");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"},
        "data": {"blob": "a".repeat(ETCD_LIMIT)}});
    let s = status(
        api.patch(
            "applied",
            &PatchParams::apply("conformance"),
            &Patch::Apply(&applied),
        )
        .await,
    );
    assert_etcd_too_large(&s, "server-side apply");
    let now = api.get("under").await.unwrap();
    assert_eq!(now.resource_version(), under.resource_version());
    assert!(now.data.is_some_and(|d| !d.contains_key("more")));

    // A body over 3 MiB is refused before anything else.
    let s = status(api.create(&pp, &big_cm("body", BODY_LIMIT + 1)).await);
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728"
        ),
        "{s:?}"
    );
}

#[tokio::test]
async fn conformance_custom_resource_status_over_the_etcd_request_limit_is_refused() {
    let (c, ns) = cluster("conf-etcd-status").await;
    let api: Api<DynamicObject> = Api::namespaced_with(c.client(), &ns, &nodeop_resource());
    let created = api
        .create(&PostParams::default(), &nodeop("big-status"))
        .await
        .unwrap();
    let s = status(
        api.patch_status(
            "big-status",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"message": "m".repeat(ETCD_LIMIT)}})),
        )
        .await,
    );
    assert_etcd_too_large(&s, "status merge patch");
    let now = api.get("big-status").await.unwrap();
    assert_eq!(now.resource_version(), created.resource_version());
    let o = api
        .patch_status(
            "big-status",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"message": "m".repeat(64 * 1024)}})),
        )
        .await
        .expect("a status well under the limit is stored");
    assert_eq!(
        o.data["status"]["message"].as_str().map(str::len),
        Some(64 * 1024)
    );
}

/// The server's minor version (`36` of `1.36`).
async fn minor_version(c: &Client) -> u32 {
    let info = c.apiserver_version().await.expect("/version");
    info.minor
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a numeric minor version")
}

#[tokio::test]
async fn conformance_int32_fields_of_custom_resources_are_range_checked() {
    let (c, ns) = cluster("conf-int32").await;
    let minor = minor_version(&c.client()).await;
    if minor < 36 {
        // Until 1.36 (kubernetes/kubernetes#136582) the numeric formats of CRD schemas were
        // dropped before validation, so any int64 was accepted.
        eprintln!(
            "skipping conformance_int32_fields_of_custom_resources_are_range_checked: the server is 1.{minor}; int32/int64 formats are enforced from 1.36"
        );
        return;
    }
    let api: Api<DynamicObject> = Api::namespaced_with(c.client(), &ns, &nodeop_resource());
    let mut too_big = nodeop("too-big");
    too_big.data["spec"]["concurrency"] = json!(99_999_999_999_i64);
    let s = status(api.create(&PostParams::default(), &too_big).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
    assert!(
        s.message.ends_with(
            "\"too-big\" is invalid: <nil>: Invalid value: \"\": Checked value must be of type integer with format int32 in spec.concurrency"
        ),
        "{s:?}"
    );
    let mut largest = nodeop("largest");
    largest.data["spec"]["concurrency"] = json!(2_147_483_647);
    let o = api
        .create(&PostParams::default(), &largest)
        .await
        .expect("the largest int32 is accepted");
    assert_eq!(o.data["spec"]["concurrency"], 2_147_483_647);
}
