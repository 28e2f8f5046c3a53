//! The shape of the code, checked: dependencies point down. No source file imports another
//! that (directly or around a loop) imports it back, in the application or in the session
//! crate; the assembled application (`state`, `startup`) is imported only by the entry points;
//! the routes and the command line reach the data through the domain (`src/domain/`), never
//! through the query modules; and the session crate never names the application.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The session framework's crate, from the workspace root.
const SESSION_CRATE: &str = "crates/actix-session-engines";

#[test]
fn no_source_file_depends_on_itself_around_a_loop() {
    for graph in [
        import_graph(),
        import_graph_of(&workspace().join(SESSION_CRATE)),
    ] {
        let cycles: Vec<Vec<String>> = graph
            .keys()
            .filter_map(|file| loop_through(&graph, file))
            .collect();

        assert!(cycles.is_empty(), "import loops: {cycles:#?}");
    }
}

#[test]
fn the_session_crate_never_names_the_application() {
    let root = workspace().join(SESSION_CRATE);
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "examples"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "the crate's sources are found: {files:?}");

    let naming_the_app: Vec<&PathBuf> = files
        .iter()
        .filter(|file| {
            let source = std::fs::read_to_string(file).unwrap();
            source.contains("guestbook::") || source.contains("use guestbook")
        })
        .collect();

    assert!(
        !manifest.contains("guestbook"),
        "the crate depends on the application"
    );
    assert!(naming_the_app.is_empty(), "{naming_the_app:?}");
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn only_the_entry_points_import_the_assembled_application() {
    let graph = import_graph();
    let importers = |target: &str| -> BTreeSet<String> {
        graph
            .iter()
            .filter(|(_, imports)| imports.contains(target))
            .map(|(file, _)| file.clone())
            .collect()
    };

    let startup = importers("src/startup.rs");
    let state = importers("src/state.rs");

    assert!(!startup.is_empty(), "the command line serves the app");
    assert!(
        startup.iter().all(|file| file.starts_with("src/cli/")),
        "{startup:?}"
    );
    assert!(
        state
            .iter()
            .all(|file| file.starts_with("src/cli/") || file == "src/startup.rs"),
        "{state:?}"
    );
}

/// The modules of plain queries, which only the domain (and the pieces below it) may use.
const QUERY_MODULES: [&str; 4] = [
    "src/db/comments.rs",
    "src/db/members.rs",
    "src/db/changes.rs",
    "src/db/django_users.rs",
];

#[test]
fn routes_and_commands_reach_the_data_through_the_domain_never_the_queries() {
    let graph = import_graph();

    let offending: Vec<(&String, Vec<&String>)> = graph
        .iter()
        .filter(|(file, _)| file.starts_with("src/routes/") || file.starts_with("src/cli/"))
        .map(|(file, imports)| {
            let queries = imports
                .iter()
                .filter(|target| QUERY_MODULES.contains(&target.as_str()))
                .collect::<Vec<_>>();
            (file, queries)
        })
        .filter(|(_, queries)| !queries.is_empty())
        .collect();

    assert!(
        graph.keys().any(|file| file.starts_with("src/routes/"))
            && graph.keys().any(|file| file.starts_with("src/cli/")),
        "the routes and the command line are where this test looks for them"
    );
    assert!(
        offending.is_empty(),
        "routes or commands importing query modules: {offending:#?}"
    );
}

/// A loop of imports that starts and ends at `start`, if there is one.
fn loop_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![start.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        for next in &graph[last] {
            if next == start {
                return Some(path.clone());
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

/// Every file under the application's `src/` (as `src/...`) with the files it imports from
/// the application, test modules left out.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    import_graph_of(&workspace())
}

/// The same for the crate at `root`. Its root file (`src/lib.rs`) is left out: it declares the
/// modules and re-exports the public face, and depends on nothing itself.
fn import_graph_of(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    const CRATE_ROOT: &str = "src/lib.rs";
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|file| {
            let relative = file
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (module_path(&relative), relative)
        })
        .collect();
    modules
        .iter()
        .filter(|(_, file)| *file != CRATE_ROOT)
        .map(|(module, file)| {
            let source = std::fs::read_to_string(root.join(file)).unwrap();
            let source = source.split("#[cfg(test)]").next().unwrap();
            let imports = crate_paths(source)
                .into_iter()
                .filter_map(|path| resolve(module, &path, &modules))
                .filter(|target| target != file && target != CRATE_ROOT)
                .collect();
            (file.clone(), imports)
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/sessions/mod.rs` → `["sessions"]`, `src/sessions/db.rs` → `["sessions", "db"]`.
fn module_path(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_start_matches("src/")
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The file a path used in module `module` names, if it is this crate's.
fn resolve(
    module: &[String],
    path: &[String],
    modules: &BTreeMap<Vec<String>, String>,
) -> Option<String> {
    let (mut base, rest): (Vec<String>, &[String]) = match path.first()?.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (module.to_vec(), &path[1..]),
        "super" => {
            let supers = path.iter().take_while(|p| *p == "super").count();
            let base = module[..module.len().checked_sub(supers)?].to_vec();
            (base, &path[supers..])
        }
        _ => return None,
    };
    base.extend(rest.iter().cloned());
    (0..=base.len())
        .rev()
        .find_map(|len| modules.get(&base[..len]))
        .cloned()
}

/// Every path a source names through `use` (braces expanded) or `crate::...` in code.
fn crate_paths(source: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for statement in source.split(';') {
        // `use` (or `pub use`) starting the statement, after attributes or comments.
        let Some(start) = statement.rfind("use ") else {
            continue;
        };
        if statement[..start]
            .chars()
            .last()
            .is_none_or(char::is_whitespace)
        {
            expand(&[], &statement[start + "use ".len()..], &mut paths);
        }
    }
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        let path: String = rest[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        paths.push(split(&path));
        rest = &rest[at + "crate::".len()..];
    }
    paths
}

/// The paths of a use tree (`a::{b, c::{d}}`), each after `prefix`.
fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        for part in split_top_level(inner) {
            expand(prefix, part, out);
        }
    } else if let Some(open) = tree.find("::{") {
        let mut longer = prefix.to_vec();
        longer.extend(split(&tree[..open]));
        expand(&longer, &tree[open + 2..], out);
    } else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        let mut full = prefix.to_vec();
        full.extend(split(path));
        out.push(full);
    }
}

fn split(path: &str) -> Vec<String> {
    path.split("::")
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect()
}

fn split_top_level(list: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}
