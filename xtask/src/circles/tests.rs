use super::*;

/// A crate written into a fresh directory from (relative path, source) pairs; returns the
/// directory.
fn krate(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, source) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("dirs");
        std::fs::write(full, source).expect("write");
    }
    dir
}

fn names(dir: &Path, edges: &Edges) -> Vec<String> {
    edges
        .iter()
        .map(|((from, to), names)| {
            let short = |p: &PathBuf| p.strip_prefix(dir).unwrap_or(p).display().to_string();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            format!("{} -> {}: {}", short(from), short(to), names.join(","))
        })
        .collect()
}

fn read(dir: &Path) -> Edges {
    edges(&roots(&[dir.to_path_buf()])).expect("reads")
}

#[test]
fn two_files_taking_from_each_other_are_a_circle() {
    let dir = krate(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        ("src/a.rs", "use crate::b::B;\npub struct A(B);\n"),
        (
            "src/b.rs",
            "pub struct B;\npub fn f() -> super::a::A { todo!() }\n",
        ),
    ]);
    let e = read(dir.path());
    assert_eq!(
        names(dir.path(), &e),
        ["src/a.rs -> src/b.rs: B", "src/b.rs -> src/a.rs: A"]
    );
    let found = circles(&e);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].len(), 2);
}

#[test]
fn re_exports_lead_to_the_defining_file_and_module_names_take_nothing() {
    let dir = krate(&[
        ("src/lib.rs", "mod m;\npub use m::*;\n"),
        (
            "src/m/mod.rs",
            "mod model;\nmod plan;\npub use model::Info;\npub use plan::plan;\npub const LIMIT: u8 = 1;\n",
        ),
        ("src/m/model.rs", "pub struct Info { pub n: u8 }\n"),
        (
            "src/m/plan.rs",
            "use super::{model, Info, LIMIT};\npub fn plan(i: &Info) -> model::Info { Info { n: i.n.max(LIMIT) } }\n",
        ),
    ]);
    let e = read(dir.path());
    assert_eq!(
        names(dir.path(), &e),
        [
            "src/m/mod.rs -> src/m/model.rs: Info",
            "src/m/mod.rs -> src/m/plan.rs: plan",
            "src/m/plan.rs -> src/m/mod.rs: LIMIT",
            "src/m/plan.rs -> src/m/model.rs: Info",
        ]
    );
    // mod.rs re-exports plan and plan takes LIMIT from mod.rs: a circle.
    assert_eq!(circles(&e).len(), 1);
}

#[test]
fn test_only_code_and_outside_crates_are_not_counted() {
    let dir = krate(&[
        ("src/lib.rs", "mod a;\nmod b;\npub use std::fmt::Debug;\n"),
        ("src/a.rs", "use crate::b::B;\npub struct A(pub B);\n"),
        (
            "src/b.rs",
            "pub struct B;\nimpl std::fmt::Display for B { fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { Ok(()) } }\n#[cfg(test)]\nfn helper() -> crate::a::A { crate::a::A(B) }\n#[cfg(test)]\nmod tests { use crate::a::A; }\n",
        ),
    ]);
    let e = read(dir.path());
    assert_eq!(names(dir.path(), &e), ["src/a.rs -> src/b.rs: B"]);
    assert!(circles(&e).is_empty());
}

#[test]
fn a_longer_circle_is_found_whole() {
    let dir = krate(&[
        ("src/main.rs", "mod a;\nmod b;\nmod c;\nfn main() {}\n"),
        ("src/a.rs", "pub fn a() { crate::b::b() }\n"),
        ("src/b.rs", "pub fn b() { super::c::c() }\n"),
        ("src/c.rs", "use crate::a;\npub fn c() { a::a() }\n"),
    ]);
    let found = circles(&read(dir.path()));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].len(), 3);
}
#[test]
fn the_workspace_has_no_circles_between_source_files() {
    let root = crate::root();
    check(&root, &crate::crate_dirs(&root)).expect("no circles");
}
