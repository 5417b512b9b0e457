//! `cargo xtask circles`: finds circles between the source files of a crate, where file A takes
//! a name from file B and B (directly or through others) takes one from A. Reads the crates'
//! source files; everything else is pure.
//!
//! A file *takes a name* from the file that defines it: `use` trees and paths starting with
//! `crate`, `super`, `self`, a child module or an imported name are followed through `use`
//! re-exports to the defining module's file. Declaring `mod child;` takes nothing, and
//! `#[cfg(test)]` items (test modules, test-only helpers) are left out: only production code must
//! form a DAG. Paths inside macro invocations are not seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use syn::visit::Visit;

/// A module: its path from the crate root (`[]` for the root).
type ModPath = Vec<String>;

/// What one module holds: the file it is written in, the names it defines, its child modules
/// and its `use` imports (name -> path, relative to this module, `*` for a glob).
#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    defines: BTreeSet<String>,
    children: BTreeSet<String>,
    imports: Vec<(String, Vec<String>)>,
    /// Paths used in this module's code, relative to this module.
    uses: Vec<Vec<String>>,
}

/// One crate's modules, read from its root file.
#[derive(Debug, Default)]
struct Crate {
    modules: BTreeMap<ModPath, Module>,
}

/// A file that takes names from another: (from, to) -> the names.
pub(crate) type Edges = BTreeMap<(PathBuf, PathBuf), BTreeSet<String>>;

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Collects a `use` tree as (name, full path) pairs.
fn flatten(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                if let Some(last) = prefix.last() {
                    out.push((last.clone(), prefix.clone()));
                }
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push((name, path));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push((r.rename.to_string(), path));
        }
        syn::UseTree::Glob(_) => out.push(("*".to_owned(), prefix.clone())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten(t, prefix, out);
            }
        }
    }
}

/// Every multi-segment path in code (types, expressions, patterns), skipping test-only items.
#[derive(Default)]
struct Paths(Vec<Vec<String>>);

impl<'ast> Visit<'ast> for Paths {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.segments.len() > 1 {
            self.0
                .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !item_attrs(item).is_some_and(is_test_only) {
            syn::visit::visit_item(self, item);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
}

fn item_attrs(item: &syn::Item) -> Option<&[syn::Attribute]> {
    Some(match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        _ => return None,
    })
}

fn item_name(item: &syn::Item) -> Option<String> {
    let ident = match item {
        syn::Item::Const(i) => &i.ident,
        syn::Item::Enum(i) => &i.ident,
        syn::Item::Fn(i) => &i.sig.ident,
        syn::Item::Static(i) => &i.ident,
        syn::Item::Struct(i) => &i.ident,
        syn::Item::Trait(i) => &i.ident,
        syn::Item::Type(i) => &i.ident,
        syn::Item::Union(i) => &i.ident,
        syn::Item::Macro(i) => i.ident.as_ref()?,
        _ => return None,
    };
    Some(ident.to_string())
}

/// Where `mod name;` declared in `file` lives: `dir/name.rs` or `dir/name/mod.rs`, where `dir`
/// is the file's directory for `mod.rs`/`lib.rs`/`main.rs` and `dir/stem` otherwise.
fn child_file(file: &Path, name: &str, attrs: &[syn::Attribute]) -> Option<PathBuf> {
    let dir = file.parent()?;
    for a in attrs {
        if a.path().is_ident("path")
            && let syn::Meta::NameValue(nv) = &a.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            return Some(dir.join(s.value()));
        }
    }
    let stem = file.file_stem()?.to_str()?;
    let base = if matches!(stem, "mod" | "lib" | "main") {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    };
    let flat = base.join(format!("{name}.rs"));
    if flat.exists() {
        Some(flat)
    } else {
        Some(base.join(name).join("mod.rs"))
    }
}

impl Crate {
    /// Reads the crate whose root file is `root` (`src/lib.rs` or `src/main.rs`).
    fn read(root: &Path) -> Result<Self> {
        let mut krate = Self::default();
        krate.read_file(root, Vec::new())?;
        Ok(krate)
    }

    fn read_file(&mut self, file: &Path, path: ModPath) -> Result<()> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("failed to read {}", file.display()))?;
        let ast = syn::parse_file(&text)
            .with_context(|| format!("failed to parse {}", file.display()))?;
        self.read_items(file, path, &ast.items)
    }

    fn read_items(&mut self, file: &Path, path: ModPath, items: &[syn::Item]) -> Result<()> {
        let mut module = Module {
            file: file.to_path_buf(),
            ..Module::default()
        };
        let mut paths = Paths::default();
        for item in items {
            if item_attrs(item).is_some_and(is_test_only) {
                continue;
            }
            match item {
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    module.children.insert(name.clone());
                    let mut child = path.clone();
                    child.push(name.clone());
                    match &m.content {
                        Some((_, inner)) => self.read_items(file, child, inner)?,
                        None => {
                            let f = child_file(file, &name, &m.attrs)
                                .context("a module file without a directory")?;
                            self.read_file(&f, child)?;
                        }
                    }
                }
                syn::Item::Use(u) => flatten(&u.tree, &mut Vec::new(), &mut module.imports),
                other => {
                    if let Some(name) = item_name(other) {
                        module.defines.insert(name);
                    }
                    paths.visit_item(other);
                }
            }
        }
        module.uses = paths.0;
        module
            .uses
            .extend(module.imports.iter().map(|(_, p)| p.clone()));
        self.modules.insert(path, module);
        Ok(())
    }

    /// The module `segments` names from module `at` (following `crate`, `super`, `self`, child
    /// modules and imported modules), and how many segments that took; `None` for a path that
    /// leaves the crate.
    fn walk(&self, at: &ModPath, segments: &[String], depth: usize) -> Option<(ModPath, usize)> {
        let mut here = at.clone();
        let mut taken = 0;
        for (i, seg) in segments.iter().enumerate() {
            match seg.as_str() {
                "crate" if i == 0 => here.clear(),
                "self" if i == 0 => {}
                "super" if taken == i => {
                    here.pop();
                }
                _ => {
                    if i + 1 == segments.len() {
                        break;
                    }
                    let module = self.modules.get(&here)?;
                    if module.children.contains(seg) {
                        here.push(seg.clone());
                    } else if let Some((_, target)) = module.imports.iter().find(|(n, _)| n == seg)
                    {
                        let (m, used) = self.walk(&here, target, depth + 1)?;
                        if used != target.len() - 1 || depth > 16 {
                            return if i == 0 { None } else { Some((here, taken)) };
                        }
                        // The import names a module only if its last segment is one.
                        let parent = self.modules.get(&m)?;
                        let last = target.last()?;
                        if !parent.children.contains(last) {
                            return if i == 0 { None } else { Some((here, taken)) };
                        }
                        here = m;
                        here.push(last.clone());
                    } else if i == 0 {
                        return None;
                    } else {
                        break;
                    }
                }
            }
            taken = i + 1;
        }
        Some((here, taken))
    }

    /// The module that defines `name` as seen from module `at` (through imports), if in this
    /// crate.
    fn definer(&self, at: &ModPath, name: &str, depth: usize) -> Option<ModPath> {
        let module = self.modules.get(at)?;
        if module.defines.contains(name) || depth > 16 {
            return Some(at.clone());
        }
        if module.children.contains(name) {
            return None;
        }
        if let Some((_, target)) = module.imports.iter().find(|(n, _)| n == name) {
            let (m, used) = self.walk(at, target, depth + 1)?;
            return (used == target.len() - 1)
                .then(|| self.definer(&m, target.last()?, depth + 1))
                .flatten();
        }
        module
            .imports
            .iter()
            .filter(|(n, _)| n == "*")
            .find_map(|(_, target)| {
                let mut full = target.clone();
                full.push(name.to_owned());
                let (m, used) = self.walk(at, &full, depth + 1)?;
                (used == full.len() - 1)
                    .then(|| self.definer(&m, name, depth + 1))
                    .flatten()
                    .filter(|d| {
                        self.modules
                            .get(d)
                            .is_some_and(|d| d.defines.contains(name))
                    })
            })
    }

    /// Adds to `edges` every name a file takes from another file of this crate.
    fn edges(&self, edges: &mut Edges) {
        for (at, module) in &self.modules {
            for path in &module.uses {
                let Some((m, used)) = self.walk(at, path, 0) else {
                    continue;
                };
                let name = if used < path.len() {
                    &path[used]
                } else {
                    // `use super::child;` names a module, not an item.
                    continue;
                };
                if self
                    .modules
                    .get(&m)
                    .is_some_and(|m| m.children.contains(name))
                {
                    // A module is named, not taken: what is used through it counts.
                    continue;
                }
                let Some(definer) = self.definer(&m, name, 0) else {
                    continue;
                };
                let Some(to) = self.modules.get(&definer) else {
                    continue;
                };
                if to.file != module.file {
                    edges
                        .entry((module.file.clone(), to.file.clone()))
                        .or_default()
                        .insert(name.clone());
                }
            }
        }
    }
}

/// Every file-level edge of the crates whose root files are `roots`.
///
/// # Errors
/// When a file cannot be read or parsed.
pub(crate) fn edges(roots: &[PathBuf]) -> Result<Edges> {
    let mut edges = Edges::new();
    for root in roots {
        Crate::read(root)?.edges(&mut edges);
    }
    Ok(edges)
}

/// The circles among `edges`: each a set of two or more files that reach each other (strongly
/// connected components, by Tarjan's algorithm), sorted.
pub(crate) fn circles(edges: &Edges) -> Vec<Vec<PathBuf>> {
    let mut next: BTreeMap<&Path, Vec<&Path>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
        next.entry(to).or_default();
    }
    struct State<'a> {
        index: BTreeMap<&'a Path, usize>,
        low: BTreeMap<&'a Path, usize>,
        stack: Vec<&'a Path>,
        on_stack: BTreeSet<&'a Path>,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(v: &'a Path, next: &BTreeMap<&'a Path, Vec<&'a Path>>, s: &mut State<'a>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in next.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(w, next, s);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_path_buf());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for &v in next.keys() {
        if !state.index.contains_key(v) {
            visit(v, &next, &mut state);
        }
    }
    state.found.sort();
    state.found
}

/// The root files of the workspace's crates (libraries and binaries) under `dirs`.
pub(crate) fn roots(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for dir in dirs {
        for name in ["src/lib.rs", "src/main.rs"] {
            let f = dir.join(name);
            if f.exists() {
                roots.push(f);
            }
        }
        if let Ok(bins) = std::fs::read_dir(dir.join("src/bin")) {
            let mut bins: Vec<PathBuf> = bins.filter_map(|e| Some(e.ok()?.path())).collect();
            bins.sort();
            roots.extend(
                bins.into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "rs")),
            );
        }
    }
    roots
}

/// Prints the circles among the files of `dirs` (crate directories) and fails when there is one.
///
/// # Errors
/// When a file cannot be read or parsed, or a circle exists.
pub(crate) fn check(root: &Path, dirs: &[PathBuf]) -> Result<()> {
    let edges = edges(&roots(dirs))?;
    let found = circles(&edges);
    if found.is_empty() {
        eprintln!(
            "no circles among {} files",
            edges
                .keys()
                .flat_map(|(a, b)| [a, b])
                .collect::<BTreeSet<_>>()
                .len()
        );
        return Ok(());
    }
    let show = |p: &PathBuf| p.strip_prefix(root).unwrap_or(p).display().to_string();
    for circle in &found {
        eprintln!("circle of {} files:", circle.len());
        for ((from, to), names) in &edges {
            if circle.contains(from) && circle.contains(to) {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                eprintln!("  {} -> {}: {}", show(from), show(to), names.join(", "));
            }
        }
    }
    anyhow::bail!("{} circle(s) between source files", found.len())
}

#[cfg(test)]
mod tests;
