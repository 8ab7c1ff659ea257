//! Check 4 of `cargo xtask tidy`: every public item of the library crates carries a runnable
//! example, as object_store's do.
//!
//! The public API is what a caller outside the crate can name: starting at `src/lib.rs`, the
//! modules declared `pub mod NAME;` (their files `NAME.rs` or `NAME/mod.rs` beside the
//! declaring module), recursively. In those files, every line whose code starts with `pub ` (not
//! `pub(crate)`, `pub(super)`) followed by `fn`, `async fn`, `const fn`, `unsafe fn`, `struct`,
//! `enum`, `trait`, `type`, `const`, `static` or `mod` is an item; so is each public module
//! itself, documented by its file's `//!` lines. An item passes when its doc comment (the `///`
//! lines above it, across attributes) or, for a module, its `//!` lines hold a fenced example
//! that rustdoc runs: a fence of ```` ``` ````, ```` ```rust ````, ```` ```no_run ```` or
//! ```` ```should_panic ````. Items marked `#[doc(hidden)]` and everything after a top-level
//! `#[cfg(test)]` are not public API. Re-exports (`pub use`) are documented where defined.
//!
//! A test suite's files ([`TEST_SUITES`]) need only their module example: their public
//! functions are test cases that a backend runs through the suite's macro, shown there.

use std::collections::BTreeSet;

use crate::tidy::Tree;

/// The crates whose public items must carry examples (`src/lib.rs` of each).
pub(crate) const LIBRARY_CRATES: [&str; 6] = [
    "crates/cache-core",
    "crates/cache-fjall",
    "crates/cache-redb",
    "crates/cache-sync",
    "crates/cache-sai3",
    ".",
];

/// Directories of test suites: public test cases run through a macro (see the module doc).
const TEST_SUITES: [&str; 1] = ["crates/cache-core/src/conformance/"];

/// Item keywords after `pub `.
const ITEM_KEYWORDS: [&str; 13] = [
    "fn ",
    "async fn ",
    "const fn ",
    "unsafe fn ",
    "struct ",
    "enum ",
    "trait ",
    "type ",
    "const ",
    "static ",
    "mod ",
    "unsafe trait ",
    "union ",
];

/// Fences rustdoc compiles and runs (or runs to a panic, or compiles only for `no_run`).
const RUN_FENCES: [&str; 4] = ["```", "```rust", "```no_run", "```should_panic"];

/// Checks every library crate; returns (items checked, files scanned).
pub(crate) fn check(tree: &dyn Tree, problems: &mut Vec<String>) -> (usize, usize) {
    let mut items = 0;
    let mut files = 0;
    for krate in LIBRARY_CRATES {
        let lib = if krate == "." {
            "src/lib.rs".to_owned()
        } else {
            format!("{krate}/src/lib.rs")
        };
        for file in public_module_files(tree, &lib) {
            let Some(text) = tree.read(&file) else {
                continue;
            };
            files += 1;
            items += check_file(&file, &text, problems);
        }
    }
    (items, files)
}

/// `lib` and the files of every module reachable from it through `pub mod` declarations.
fn public_module_files(tree: &dyn Tree, lib: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![lib.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(file) = todo.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let Some(text) = tree.read(&file) else {
            continue;
        };
        let dir = module_dir(&file);
        for name in public_mod_declarations(&text) {
            let flat = format!("{dir}/{name}.rs");
            let nested = format!("{dir}/{name}/mod.rs");
            if tree.is_file(&flat) {
                todo.push(flat);
            } else if tree.is_file(&nested) {
                todo.push(nested);
            }
        }
        out.push(file);
    }
    out.sort();
    out
}

/// Where a module's children live: beside `lib.rs`/`mod.rs`, else in a directory of its name.
fn module_dir(file: &str) -> String {
    let (parent, name) = file.rsplit_once('/').unwrap_or((".", file));
    match name {
        "lib.rs" | "mod.rs" | "main.rs" => parent.to_owned(),
        _ => format!("{parent}/{}", name.trim_end_matches(".rs")),
    }
}

/// The names of the `pub mod NAME;` lines of a file (before its tests).
fn public_mod_declarations(text: &str) -> Vec<String> {
    api_lines(text)
        .filter_map(|(_, line)| line.trim().strip_prefix("pub mod ")?.strip_suffix(';'))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// The lines of a file up to its first top-level `#[cfg(test)]`, numbered from 1.
fn api_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .take_while(|(_, line)| !line.starts_with("#[cfg(test)]"))
}

/// Checks one file: its module example and each public item's; returns the items checked.
fn check_file(file: &str, text: &str, problems: &mut Vec<String>) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let module_doc = lines
        .iter()
        .map(|l| l.trim_start())
        .take_while(|l| l.starts_with("//!") || l.is_empty() || l.starts_with("#!["))
        .filter_map(|l| l.strip_prefix("//!"));
    let mut checked = 1;
    let suite = TEST_SUITES.iter().any(|dir| file.starts_with(dir));
    let needs_module_example = !suite || file.ends_with("mod.rs");
    if needs_module_example && !has_run_fence(module_doc) {
        problems.push(format!(
            "{file}: the module's `//!` doc has no runnable example"
        ));
    }
    if suite {
        return checked;
    }
    for (number, line) in api_lines(text) {
        let Some(item) = public_item(line) else {
            continue;
        };
        let above = doc_above(&lines, number - 1);
        if above.hidden {
            continue;
        }
        checked += 1;
        if !has_run_fence(above.doc.iter().copied()) {
            problems.push(format!(
                "{file}:{number}: `{}` has no runnable example in its doc comment",
                item.split(['(', '<', '{', ';', ':', '='])
                    .next()
                    .unwrap_or(item)
                    .trim()
            ));
        }
    }
    checked
}

/// The item's text after `pub ` when `line` declares a public item (not a `pub mod x;`, whose
/// example is its file's `//!` doc).
fn public_item(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("pub ")?;
    if rest.starts_with("mod ") && rest.trim_end().ends_with(';') {
        return None;
    }
    ITEM_KEYWORDS
        .iter()
        .any(|k| rest.starts_with(k))
        .then_some(rest)
}

/// The doc comment and attributes above line index `at` (0-based, the item's line).
struct Above<'a> {
    doc: Vec<&'a str>,
    hidden: bool,
}

fn doc_above<'a>(lines: &[&'a str], at: usize) -> Above<'a> {
    let mut doc = Vec::new();
    let mut hidden = false;
    let mut i = at;
    while i > 0 {
        i -= 1;
        let line = lines[i].trim();
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text);
        } else if line.starts_with("#[") {
            hidden |= line.contains("doc(hidden)");
        } else if line.ends_with(']') {
            // The end of a multi-line attribute: up to its `#[` line.
            while i > 0 && !lines[i].trim().starts_with("#[") {
                i -= 1;
            }
        } else if !line.starts_with("//") {
            break;
        }
    }
    doc.reverse();
    Above { doc, hidden }
}

/// Whether doc lines hold a fenced block rustdoc runs: an opening fence (not a closing one)
/// with a run info string.
fn has_run_fence<'a>(doc: impl Iterator<Item = &'a str>) -> bool {
    let mut in_block = false;
    for line in doc.map(str::trim) {
        if !line.starts_with("```") {
            continue;
        }
        if !in_block && (RUN_FENCES.contains(&line) || line.starts_with("```rust,")) {
            return true;
        }
        in_block = !in_block;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_without_an_example_is_named() {
        let text = "//! Mod.\n//! ```\n//! ```\n\n/// Doc.\npub fn bare() {}\n\n/// Doc.\n/// ```\n/// f();\n/// ```\n#[must_use]\npub fn with() {}\n#[doc(hidden)]\npub fn hidden() {}\npub(crate) fn internal() {}\n";
        let mut problems = Vec::new();
        assert_eq!(check_file("x.rs", text, &mut problems), 3);
        assert_eq!(
            problems,
            ["x.rs:6: `fn bare` has no runnable example in its doc comment"]
        );
    }

    #[test]
    fn text_blocks_and_tests_do_not_count() {
        let text = "//! Mod.\n/// ```text\n/// x\n/// ```\npub struct S;\n#[cfg(test)]\nmod tests {\n    pub fn helper() {}\n}\n";
        let mut problems = Vec::new();
        assert_eq!(check_file("y.rs", text, &mut problems), 2);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("module"), "{problems:?}");
        assert!(problems[1].contains("y.rs:5: `struct S`"), "{problems:?}");
    }

    #[test]
    fn multi_line_attributes_are_crossed() {
        let lines = [
            "/// ```",
            "/// ```",
            "#[derive(",
            "    Debug,",
            ")]",
            "pub struct S;",
        ];
        assert!(has_run_fence(doc_above(&lines, 5).doc.into_iter()));
    }

    #[test]
    fn module_files_follow_pub_mod() {
        assert_eq!(module_dir("crates/a/src/lib.rs"), "crates/a/src");
        assert_eq!(module_dir("crates/a/src/x.rs"), "crates/a/src/x");
        assert_eq!(module_dir("crates/a/src/x/mod.rs"), "crates/a/src/x");
        assert_eq!(
            public_mod_declarations(
                "pub mod a;\nmod b;\npub(crate) mod c;\n#[cfg(test)]\npub mod d;"
            ),
            ["a"]
        );
    }
}
