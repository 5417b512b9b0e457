//! Tests of per-object retry delays.

use super::*;

#[test]
fn delays_double_per_object_up_to_the_cap_and_a_success_starts_over() {
    let r = Retries::default();
    let bug = Error::Internal("a bug".into());
    let first = bug.first_retry();
    let mut last = Duration::ZERO;
    for i in 0..12 {
        let d = r.failed("ns/a", &bug);
        let base = first.saturating_mul(1 << i).min(MAX_DELAY);
        assert!(d >= base && d <= base + base / 4, "{i}: {d:?} for {base:?}");
        assert!(d >= last || base == MAX_DELAY);
        last = d;
    }
    assert!(last >= MAX_DELAY);
    // Another object starts from the first delay.
    assert!(r.failed("ns/b", &bug) <= first + first / 4);
    r.succeeded("ns/a");
    assert!(r.failed("ns/a", &bug) <= first + first / 4);
}

fn conflict() -> Error {
    Error::Apply {
        what: "write the status".into(),
        source: kube::Error::Api(Box::new(
            kube::core::Status::failure("modified", "Conflict").with_code(409),
        )),
    }
}

#[test]
fn conflicts_never_back_off_nor_count_as_failures() {
    let r = Retries::default();
    for _ in 0..20 {
        let d = r.failed("ns/a", &conflict());
        assert!(d <= Duration::from_millis(200), "{d:?}");
    }
    let bug = Error::Internal("a bug".into());
    let first = bug.first_retry();
    let d = r.failed("ns/a", &bug);
    assert!(
        d <= first + first / 4,
        "{d:?}: the conflicts were not failures"
    );
}

#[test]
fn a_refusal_starts_at_half_a_minute_and_is_capped_at_five() {
    let r = Retries::default();
    let forbidden = Error::Observe {
        what: "list nodes".into(),
        source: kube::Error::Api(Box::new(
            kube::core::Status::failure("no", "Forbidden").with_code(403),
        )),
    };
    let bases = [30, 60, 120, 240, 300, 300];
    for base in bases {
        let base = Duration::from_secs(base);
        let d = r.failed("/cluster-object", &forbidden);
        assert!(d >= base && d <= base + base / 4, "{d:?} for {base:?}");
    }
}

#[test]
fn objects_are_keyed_by_namespace_and_name() {
    let mut op = kairos_api::NodeOp::new(
        "fw",
        serde_json::from_str("{\"command\": [\"true\"]}").expect("spec"),
    );
    assert_eq!(key(&op), "/fw", "cluster-scoped or not yet namespaced");
    op.metadata.namespace = Some("ops".into());
    assert_eq!(key(&op), "ops/fw");
}
