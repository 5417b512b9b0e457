//! Tests of the rotation decisions and of the generated certificates. No I/O.

use super::*;

const DAY: SignedDuration = SignedDuration::from_hours(24);

fn t0() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn names() -> Vec<String> {
    serving_names("kairos-operator", "kairos-system")
}

fn info(not_before: Timestamp, not_after: Timestamp) -> CertInfo {
    CertInfo {
        not_before,
        not_after,
        names: names(),
    }
}

/// Material as stored at `t0`: CA and serving certificate both fresh.
fn fresh() -> Observed {
    Observed {
        ca: info(t0(), t0() + CA_VALIDITY),
        serving: info(t0(), t0() + SERVING_VALIDITY),
        next_ca: None,
    }
}

#[test]
fn plan_table() {
    let at = |days: i64| t0() + DAY * i32::try_from(days).unwrap();
    let with_next = |published: Timestamp| Observed {
        next_ca: Some(info(published, published + CA_VALIDITY)),
        ..fresh()
    };
    let renamed = Observed {
        serving: CertInfo {
            names: vec!["other".into()],
            ..fresh().serving
        },
        ..fresh()
    };
    let cases: Vec<(&str, Option<Observed>, Timestamp, Vec<Step>)> = vec![
        ("nothing stored", None, t0(), vec![Step::CreateAll]),
        ("fresh material", Some(fresh()), t0(), vec![]),
        ("serving has 31 days left", Some(fresh()), at(59), vec![]),
        (
            "serving has 29 days left",
            Some(fresh()),
            at(61),
            vec![Step::RenewServing],
        ),
        (
            "names changed",
            Some(renamed),
            t0(),
            vec![Step::RenewServing],
        ),
        (
            "CA has 61 days left",
            Some(Observed {
                serving: info(at(300), at(390)),
                ..fresh()
            }),
            at(304),
            vec![],
        ),
        (
            "CA has 59 days left",
            Some(Observed {
                serving: info(at(300), at(390)),
                ..fresh()
            }),
            at(306),
            vec![Step::AddNextCa],
        ),
        (
            "CA and serving both near their end",
            Some(fresh()),
            at(306),
            vec![Step::AddNextCa, Step::RenewServing],
        ),
        (
            "next CA just published",
            Some(with_next(at(306))),
            at(306),
            vec![Step::RenewServing],
        ),
        (
            "next CA published over an hour ago",
            Some(with_next(at(306))),
            at(306) + SignedDuration::from_mins(66),
            vec![Step::PromoteNextCa],
        ),
        ("CA expired", Some(fresh()), at(366), vec![Step::CreateAll]),
    ];
    for (name, observed, now, want) in cases {
        assert_eq!(plan(observed.as_ref(), &names(), now), want, "{name}");
    }
}

#[test]
fn create_all_makes_a_ca_and_a_serving_certificate_for_the_service_names() {
    let m = execute(&[Step::CreateAll], None, &names(), t0()).unwrap();
    let o = observe(&m).unwrap();
    assert_eq!(o.ca.not_after, t0() + CA_VALIDITY);
    assert_eq!(o.serving.not_after, t0() + SERVING_VALIDITY);
    assert_eq!(o.serving.names, names());
    assert!(o.next_ca.is_none());
    // Freshly created material needs nothing more.
    assert_eq!(plan(Some(&o), &names(), t0()), vec![]);
    // Keys are never printed.
    assert!(!format!("{m:?}").contains("PRIVATE KEY"));
}

#[test]
fn renewing_the_serving_certificate_keeps_the_ca() {
    let m = execute(&[Step::CreateAll], None, &names(), t0()).unwrap();
    let now = t0() + DAY * 61;
    let renewed = execute(&[Step::RenewServing], Some(&m), &names(), now).unwrap();
    assert_eq!(renewed.ca_cert, m.ca_cert);
    assert_eq!(renewed.ca_key, m.ca_key);
    assert_ne!(renewed.tls_cert, m.tls_cert);
    assert_eq!(
        inspect(&renewed.tls_cert, "t").unwrap().not_after,
        now + SERVING_VALIDITY
    );
}

#[test]
fn serving_certificate_never_outlives_its_ca() {
    let m = execute(&[Step::CreateAll], None, &names(), t0()).unwrap();
    let now = t0() + DAY * 340;
    let renewed = execute(&[Step::RenewServing], Some(&m), &names(), now).unwrap();
    assert_eq!(
        inspect(&renewed.tls_cert, "t").unwrap().not_after,
        t0() + CA_VALIDITY
    );
}

#[test]
fn ca_rotation_publishes_both_cas_then_switches_and_drops_the_old_one_when_it_expires() {
    let m = execute(&[Step::CreateAll], None, &names(), t0()).unwrap();
    let old_bundle = ca_bundle(&m, None, t0());
    assert_eq!(old_bundle.matches("BEGIN CERTIFICATE").count(), 1);

    // 59 days before the CA ends: a next CA is published, the serving cert is untouched.
    let t1 = t0() + DAY * 306;
    let steps = plan(Some(&observe(&m).unwrap()), &names(), t1);
    let m1 = execute(&steps, Some(&m), &names(), t1).unwrap();
    assert_eq!(m1.ca_cert, m.ca_cert);
    assert!(m1.next_ca.is_some());
    let bundle1 = ca_bundle(&m1, Some(&old_bundle), t1);
    assert_eq!(bundle1.matches("BEGIN CERTIFICATE").count(), 2);

    // An hour and more later: the next CA signs the serving certificate.
    let t2 = t1 + SignedDuration::from_hours(2);
    let steps = plan(Some(&observe(&m1).unwrap()), &names(), t2);
    assert_eq!(steps, vec![Step::PromoteNextCa]);
    let m2 = execute(&steps, Some(&m1), &names(), t2).unwrap();
    assert_eq!(Some(&m2.ca_cert), m1.next_ca.as_ref().map(|(c, _)| c));
    assert!(m2.next_ca.is_none());
    let bundle2 = ca_bundle(&m2, Some(&bundle1), t2);
    assert_eq!(
        bundle2.matches("BEGIN CERTIFICATE").count(),
        2,
        "old CA kept until it expires"
    );
    assert!(bundle2.starts_with(m2.ca_cert.trim_end()) || bundle2.contains(m2.ca_cert.trim()));
    assert_eq!(plan(Some(&observe(&m2).unwrap()), &names(), t2), vec![]);

    // After the old CA expired, the bundle holds only the new one.
    let t3 = t0() + CA_VALIDITY + DAY;
    let bundle3 = ca_bundle(&m2, Some(&bundle2), t3);
    assert_eq!(bundle3.matches("BEGIN CERTIFICATE").count(), 1);
}

#[test]
fn garbage_is_reported_not_panicked_on() {
    assert!(inspect("not a certificate", "x").is_err());
    let m = TlsMaterial {
        ca_cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
        ca_key: String::new(),
        tls_cert: String::new(),
        tls_key: String::new(),
        next_ca: None,
    };
    assert!(observe(&m).is_err());
    assert!(execute(&[Step::RenewServing], Some(&m), &names(), t0()).is_err());
    assert!(execute(&[Step::PromoteNextCa], None, &names(), t0()).is_err());
    // A bundle with garbage in it keeps only the valid certificates.
    let good = execute(&[Step::CreateAll], None, &names(), t0()).unwrap();
    let bundle = ca_bundle(
        &good,
        Some("junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        t0(),
    );
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 1);
}
