//! Tests of the Secret layout and of the certificate resolver. No I/O.

use super::*;

#[test]
fn secret_round_trip_keeps_every_key() {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let names = tls::serving_names("s", "ns");
    let m = tls::execute(
        &[tls::Step::CreateAll, tls::Step::AddNextCa],
        None,
        &names,
        now,
    )
    .unwrap();
    let secret = new_secret(&m);
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(material_from_secret(&secret), Some(m));
}

#[test]
fn resolver_swaps_only_when_the_certificate_changes() {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let names = tls::serving_names("s", "ns");
    let m = tls::execute(&[tls::Step::CreateAll], None, &names, now).unwrap();
    let resolver = Resolver::default();
    assert!(resolver.load(&m).unwrap());
    assert!(!resolver.load(&m).unwrap());
    let renewed = tls::execute(&[tls::Step::RenewServing], Some(&m), &names, now).unwrap();
    assert!(resolver.load(&renewed).unwrap());
    let broken = TlsMaterial {
        tls_key: "nope".into(),
        ..m
    };
    assert!(resolver.load(&broken).is_err());
}
