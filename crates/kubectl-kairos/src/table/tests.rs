use super::*;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("valid time")
}

#[test]
fn columns_are_padded_to_the_widest_cell_without_trailing_spaces() {
    let mut out = String::new();
    render(
        &mut out,
        &["NODE", "VERSION"],
        &[
            vec![Cell::plain("cp1"), Cell::plain("v3.6.0")],
            vec![Cell::plain("worker-long"), Cell::plain("")],
        ],
        false,
    );
    assert_eq!(
        out,
        "NODE          VERSION\ncp1           v3.6.0\nworker-long\n"
    );
}

#[test]
fn colour_wraps_toned_cells_only_when_asked_and_keeps_alignment() {
    let rows = [vec![Cell::toned("Failed", Tone::Bad), Cell::plain("x")]];
    let mut plain = String::new();
    render(&mut plain, &["PHASE", "WHY"], &rows, false);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    let mut coloured = String::new();
    render(&mut coloured, &["PHASE", "WHY"], &rows, true);
    assert_eq!(coloured, "PHASE    WHY\n\x1b[31mFailed\x1b[0m   x\n");
}

#[test]
fn ages_read_like_kubectl() {
    assert_eq!(age(at(0), at(45)), "45s");
    assert_eq!(age(at(0), at(119)), "119s");
    assert_eq!(age(at(0), at(12 * 60)), "12m");
    assert_eq!(age(at(0), at(5 * 3600)), "5h");
    assert_eq!(age(at(0), at(3 * 86_400)), "3d");
    assert_eq!(age(at(10), at(0)), "0s");
}
