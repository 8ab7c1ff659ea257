//! `cargo xtask tidy`: checks that keep the docs bound to the code (in the spirit of
//! rust-analyzer's `xtask/src/tidy.rs`). Plain std, no network; every check reads files only.
//!
//! 1. **Module tables** (`docs/ARCHITECTURE.md`). A section starts at a heading
//!    ``### `crates/NAME` `` (or ``### Root package `sai3-cache` ``, whose modules are declared in
//!    `src/main.rs`) and ends at the next heading of level 1 to 3. A table in it with the header
//!    row `| module | holds |` lists, one per row, the first cell a backticked `x.rs` or `x/`,
//!    exactly the modules declared at the top level of the crate's `src/lib.rs` (`src/main.rs`
//!    for a crate without a library): `mod x;` is
//!    `x.rs` when `src/x.rs` exists and `x/` when `src/x/mod.rs` exists. In the root section a
//!    `commands/` row needs a second table, header `| command | does |`, listing the modules of
//!    `src/commands/mod.rs` the same way (plus an optional `mod.rs` row for the file itself).
//!    Sections without a module table are skipped, but a document without any module table
//!    fails.
//! 2. **Key tags** (`docs/FORMATS.md`). The tables with a header row starting
//!    `| tag | keyspace |` (first cell a backticked single ASCII character, second a backticked
//!    keyspace name) name exactly the tags of `crates/cache-sai3/src/caches/keys.rs`
//!    (`pub(super) const NAME: u8 = b'X';`) and exactly the keyspaces of the `KEYSPACES`
//!    constants of `caches/endpoint.rs` and `caches/coordinator.rs`.
//! 3. **Keyspace names stay in the repository.** No `.rs` file under `crates/cache-sai3/src`
//!    outside `caches/`, and none under `src/`, has a string literal equal to a keyspace name,
//!    nor the text `keys::` or `#chunks` outside comments.
//! 4. **Examples** (`examples.rs`): every public item of the library crates has a runnable
//!    example in its doc comment.
//!
//! Every failure names the file (and line) and what is only in the doc and only in the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The architecture document with the module tables.
const ARCHITECTURE: &str = "docs/ARCHITECTURE.md";
/// The formats document with the key tag table.
const FORMATS: &str = "docs/FORMATS.md";
/// The private key module with the tag constants.
const KEYS_RS: &str = "crates/cache-sai3/src/caches/keys.rs";
/// The files with `KEYSPACES` constants.
const KEYSPACE_FILES: [&str; 2] = [
    "crates/cache-sai3/src/caches/endpoint.rs",
    "crates/cache-sai3/src/caches/coordinator.rs",
];
/// The repository module: the only place in cache-sai3 that may name keyspaces and keys.
const REPOSITORY_DIR: &str = "crates/cache-sai3/src/caches/";
/// The directories scanned by the keyspace-name check (besides the repository, which is skipped).
const SCANNED_DIRS: [&str; 2] = ["crates/cache-sai3/src", "src"];
/// The texts that must not appear outside the repository (outside comments).
const FORBIDDEN_TEXTS: [&str; 2] = ["keys::", "#chunks"];

/// Header cells of a module table.
const MODULE_HEADER: [&str; 2] = ["module", "holds"];
/// Header cells of the root package's command table.
const COMMAND_HEADER: [&str; 2] = ["command", "does"];
/// First header cells of a key tag table.
const TAG_HEADER: [&str; 2] = ["tag", "keyspace"];

/// Runs every check against `root`, by default the workspace this xtask belongs to.
pub(crate) fn tidy(root: Option<&Path>) -> Result<(), String> {
    let root = match root {
        Some(root) => root,
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("the xtask manifest directory has no parent")?,
    };
    eprintln!("\n==> tidy (docs bound to the code) in {}", root.display());
    let report = run(&Disk(root.to_path_buf()));
    if report.problems.is_empty() {
        eprintln!("<== tidy: ok ({})", report.summary);
        Ok(())
    } else {
        for problem in &report.problems {
            eprintln!("tidy: {problem}");
        }
        Err(format!(
            "tidy found {} problem(s) ({}); fix the docs or the code so they agree",
            report.problems.len(),
            report.summary
        ))
    }
}

/// What the checks found.
struct Report {
    /// One message per disagreement (possibly several lines).
    problems: Vec<String>,
    /// What was checked, for the final line.
    summary: String,
}

/// Read access to the workspace, so that the tests can run the checks on files held in memory.
pub(crate) trait Tree {
    /// The text of the file at `path` (relative to the workspace, `/`-separated).
    fn read(&self, path: &str) -> Option<String>;
    /// Whether `path` is a file.
    fn is_file(&self, path: &str) -> bool;
    /// Every `.rs` file below the directory `dir`, sorted, as workspace-relative paths.
    fn rs_files(&self, dir: &str) -> Vec<String>;
}

/// The workspace on disk.
struct Disk(PathBuf);

impl Tree for Disk {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(path)).ok()
    }

    fn is_file(&self, path: &str) -> bool {
        self.0.join(path).is_file()
    }

    fn rs_files(&self, dir: &str) -> Vec<String> {
        fn walk(base: &Path, rel: &str, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(base.join(rel)) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = format!("{rel}/{name}");
                match entry.file_type() {
                    Ok(t) if t.is_dir() => walk(base, &child, out),
                    Ok(t) if t.is_file() && name.ends_with(".rs") => out.push(child),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, dir.trim_end_matches('/'), &mut out);
        out.sort();
        out
    }
}

/// Runs the four checks.
fn run(tree: &dyn Tree) -> Report {
    let mut problems = Vec::new();
    let tables = check_module_tables(tree, &mut problems);
    let keyspaces = check_key_tags(tree, &mut problems);
    let (files, hits) = check_keyspace_names(tree, &keyspaces, &mut problems);
    let (items, api_files) = crate::examples::check(tree, &mut problems);
    Report {
        problems,
        summary: format!(
            "{tables} module/command table(s), {} keyspace name(s), {files} file(s) scanned for them, \
             {hits} hit(s), {items} public item(s) in {api_files} file(s) checked for examples",
            keyspaces.len()
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Set comparison and messages

/// `None` when the sets are equal, else the two lines naming what is only on each side.
fn set_difference(doc: &BTreeSet<String>, code: &BTreeSet<String>) -> Option<String> {
    if doc == code {
        return None;
    }
    let list = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
        let names: Vec<&str> = a.difference(b).map(String::as_str).collect();
        if names.is_empty() {
            "(none)".to_owned()
        } else {
            names.join(", ")
        }
    };
    Some(format!(
        "\n    only in the doc:  {}\n    only in the code: {}",
        list(doc, code),
        list(code, doc)
    ))
}

// ---------------------------------------------------------------------------------------------
// Markdown: sections and tables

/// A pipe table of a markdown document.
#[derive(Debug)]
struct Table {
    /// 1-based line of the header row.
    line: usize,
    /// The header cells, trimmed.
    header: Vec<String>,
    /// Whether the line after the header is a delimiter row (`|---|---|`).
    delimited: bool,
    /// The data rows: 1-based line and trimmed cells.
    rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// Whether the header is exactly `cells`.
    fn header_is(&self, cells: &[&str]) -> bool {
        self.header.len() == cells.len() && self.header.iter().zip(cells).all(|(a, b)| a == b)
    }

    /// Whether the header starts with `cells`.
    fn header_starts_with(&self, cells: &[&str]) -> bool {
        self.header.len() >= cells.len() && self.header.iter().zip(cells).all(|(a, b)| a == b)
    }
}

/// A part of a markdown document from a heading of level 1-3 to the next one.
#[derive(Debug)]
struct Section {
    /// 1-based line of the heading (0 for the text before the first heading).
    line: usize,
    /// The heading text without the `#`s (empty before the first heading).
    heading: String,
    /// The heading level (0 before the first heading).
    level: usize,
    /// The tables of the section, in order.
    tables: Vec<Table>,
}

/// Splits a table row into trimmed cells (a `\|` does not split).
fn cells(row: &str) -> Vec<String> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = if row.ends_with('|') && !row.ends_with("\\|") {
        &row[..row.len() - 1]
    } else {
        row
    };
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
    }
    out.push(cell.trim().to_owned());
    out
}

/// Whether `cells` form a delimiter row (`---`, `:--`, `--:`, `:-:`).
fn is_delimiter(cells: &[String]) -> bool {
    !cells.is_empty()
        && cells.iter().all(|c| {
            let c = c.trim_start_matches(':').trim_end_matches(':');
            !c.is_empty() && c.chars().all(|ch| ch == '-')
        })
}

/// The sections of a markdown document with their tables; fenced code blocks are skipped.
fn sections(doc: &str) -> Vec<Section> {
    let mut out = vec![Section {
        line: 0,
        heading: String::new(),
        level: 0,
        tables: Vec::new(),
    }];
    let mut fence: Option<&str> = None;
    let mut table: Option<Table> = None;
    for (index, raw) in doc.lines().enumerate() {
        let line = index + 1;
        let text = raw.trim_start();
        let is_row = fence.is_none() && text.starts_with('|');
        if !is_row && let Some(done) = table.take() {
            push_table(&mut out, done);
        }
        if let Some(marker) = fence {
            if text.starts_with(marker) {
                fence = None;
            }
        } else if let Some(marker) = fence_marker(text) {
            fence = Some(marker);
        } else if is_row {
            add_row(&mut table, line, cells(text));
        } else if let Some(section) = heading_section(raw, line) {
            out.push(section);
        }
    }
    if let Some(done) = table.take() {
        push_table(&mut out, done);
    }
    out
}

/// The marker (```` ``` ```` or `~~~`) when `text` opens a fenced code block.
fn fence_marker(text: &str) -> Option<&'static str> {
    ["```", "~~~"].into_iter().find(|m| text.starts_with(m))
}

/// Adds a row to the table being read: its header (starting the table), the delimiter row right
/// after the header, or a data row.
fn add_row(table: &mut Option<Table>, line: usize, row: Vec<String>) {
    match table {
        None => {
            *table = Some(Table {
                line,
                header: row,
                delimited: false,
                rows: Vec::new(),
            })
        }
        Some(t) if t.rows.is_empty() && !t.delimited && is_delimiter(&row) => {
            t.delimited = true;
        }
        Some(t) => t.rows.push((line, row)),
    }
}

/// The section that the line `raw` starts when it is a heading of level 1 to 3.
fn heading_section(raw: &str, line: usize) -> Option<Section> {
    let level = raw.chars().take_while(|&c| c == '#').count();
    ((1..=3).contains(&level) && raw[level..].starts_with(' ')).then(|| Section {
        line,
        heading: raw[level..].trim().to_owned(),
        level,
        tables: Vec::new(),
    })
}

/// Adds a finished table to the current (last) section.
fn push_table(sections: &mut [Section], table: Table) {
    if let Some(section) = sections.last_mut() {
        section.tables.push(table);
    }
}

/// The backticked spans of `text`, in order.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The name of a cell that is one backticked span and nothing else.
fn backticked(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.is_empty() && !inner.contains('`')).then_some(inner)
}

/// A table cell as shown in a message.
fn shown(cell: &str) -> &str {
    if cell.is_empty() {
        "(empty cell)"
    } else {
        cell
    }
}

/// Whether `s` is a Rust identifier (ASCII).
fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The names of a module or command table (`x.rs` or `x/` in backticks), with problems for
/// rows that are not of that form and for names listed twice.
fn table_entries(
    table: &Table,
    what: &str,
    place: &str,
    problems: &mut Vec<String>,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if !table.delimited {
        problems.push(format!(
            "{place}:{}: the {what} table has no delimiter row (`|---|---|`) after its header, \
             so markdown does not render it as a table",
            table.line
        ));
    }
    for (line, row) in &table.rows {
        let first = row.first().map(String::as_str).unwrap_or("");
        let name = backticked(first).filter(|n| {
            n.strip_suffix(".rs")
                .or_else(|| n.strip_suffix('/'))
                .is_some_and(is_ident)
        });
        match name {
            Some(name) => {
                if !names.insert(name.to_owned()) {
                    problems.push(format!("{place}:{line}: {what} `{name}` is listed twice"));
                }
            }
            None => problems.push(format!(
                "{place}:{line}: the first cell of a {what} row must be one backticked file or \
                 folder module name like `config.rs` or `caches/`; found: {}",
                shown(first)
            )),
        }
    }
    names
}

// ---------------------------------------------------------------------------------------------
// Rust source: a small lexer that tells code, comments and string literals apart

/// A string literal of a Rust source.
#[derive(Debug)]
struct Literal {
    /// 1-based line where it starts.
    line: usize,
    /// Byte offsets in [`Lexed::code`] of the opening and just past the closing delimiter.
    span: (usize, usize),
    /// The text between the quotes, escapes not decoded.
    text: String,
}

/// A Rust source with its comments blanked out.
#[derive(Debug)]
struct Lexed {
    /// The source with every comment character replaced by a space (newlines kept, so lines
    /// keep their numbers); string literals are kept.
    code: String,
    /// Every string literal (plain, byte, C and raw).
    literals: Vec<Literal>,
}

/// Whether `c` can continue an identifier.
fn ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Splits `src` into code and comments and finds its string literals.
fn lex(src: &str) -> Lexed {
    let mut lexer = Lexer {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        code: String::with_capacity(src.len()),
        literals: Vec::new(),
    };
    while lexer.i < lexer.chars.len() {
        lexer.token();
    }
    Lexed {
        code: lexer.code,
        literals: lexer.literals,
    }
}

/// The state of [`lex`]: a position in the source and the output so far.
struct Lexer {
    /// The source.
    chars: Vec<char>,
    /// The index in `chars` of the next character to read.
    i: usize,
    /// The 1-based line of `chars[i]`.
    line: usize,
    /// The source read so far with comments blanked out (see [`Lexed::code`]).
    code: String,
    /// The string literals read so far.
    literals: Vec<Literal>,
}

impl Lexer {
    /// The character at index `i`, if any.
    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// Reads one token (or one character of code) at `i`.
    fn token(&mut self) {
        let (c, next) = (self.chars[self.i], self.at(self.i + 1));
        if c == '/' && next == Some('/') {
            self.line_comment();
        } else if c == '/' && next == Some('*') {
            self.block_comment();
        } else if c == '"' {
            self.string();
        } else if c == '\'' {
            self.char_or_lifetime();
        } else if (c == '_' || c.is_alphabetic())
            && (self.i == 0 || !ident_char(self.chars[self.i - 1]))
        {
            self.word();
        } else {
            self.copy_to(self.i + 1);
        }
    }

    /// Copies the characters from `i` to `to` (or the end) into `code`, counting lines, and
    /// moves `i` to `to`.
    fn copy_to(&mut self, to: usize) {
        for &c in &self.chars[self.i..to.min(self.chars.len())] {
            if c == '\n' {
                self.line += 1;
            }
            self.code.push(c);
        }
        self.i = to;
    }

    /// Records a literal that started on `line` at byte `start` of `code` and ends here.
    fn push_literal(&mut self, line: usize, start: usize, text: String) {
        self.literals.push(Literal {
            line,
            span: (start, self.code.len()),
            text,
        });
    }

    /// Blanks a `//` comment up to (not including) the end of its line.
    fn line_comment(&mut self) {
        while self.i < self.chars.len() && self.chars[self.i] != '\n' {
            self.code.push(' ');
            self.i += 1;
        }
    }

    /// Blanks a `/* .. */` comment, which may nest, keeping its newlines.
    fn block_comment(&mut self) {
        let mut depth = 0usize;
        loop {
            match (self.at(self.i), self.at(self.i + 1)) {
                (Some('/'), Some('*')) => {
                    depth += 1;
                    self.code.push_str("  ");
                    self.i += 2;
                }
                (Some('*'), Some('/')) => {
                    depth -= 1;
                    self.code.push_str("  ");
                    self.i += 2;
                    if depth == 0 {
                        break;
                    }
                }
                (Some('\n'), _) => {
                    self.line += 1;
                    self.code.push('\n');
                    self.i += 1;
                }
                (Some(_), _) => {
                    self.code.push(' ');
                    self.i += 1;
                }
                (None, _) => break,
            }
        }
    }

    /// Reads a plain string literal `".."` (the `"` of a byte or C string too).
    fn string(&mut self) {
        let (start_line, start) = (self.line, self.code.len());
        let mut j = self.i + 1;
        while j < self.chars.len() && self.chars[j] != '"' {
            j += if self.chars[j] == '\\' { 2 } else { 1 };
        }
        let text: String = self.chars[self.i + 1..j.min(self.chars.len())]
            .iter()
            .collect();
        self.copy_to(j + 1);
        self.push_literal(start_line, start, text);
    }

    /// Reads a char literal (`'x'`, `'\n'`, `'\u{..}'`, `'"'`) or a lifetime / label (`'a`).
    fn char_or_lifetime(&mut self) {
        let i = self.i;
        let end = if self.at(i + 1) == Some('\\') {
            let mut j = i + 3;
            while j < self.chars.len() && self.chars[j] != '\'' && self.chars[j] != '\n' {
                j += 1;
            }
            j + 1
        } else if self.at(i + 2) == Some('\'') {
            i + 3
        } else {
            i + 1
        };
        self.copy_to(end);
    }

    /// Reads an identifier or keyword, and the raw string it may prefix (`r`, `br`, `cr`).
    fn word(&mut self) {
        let mut end = self.i;
        while end < self.chars.len() && ident_char(self.chars[end]) {
            end += 1;
        }
        let word: String = self.chars[self.i..end].iter().collect();
        self.copy_to(end);
        if matches!(word.as_str(), "r" | "br" | "cr") {
            self.raw_string();
        }
    }

    /// Reads a raw string literal's `#..#"..."#..#` when one starts at `i`.
    fn raw_string(&mut self) {
        let chars = &self.chars;
        let hashes = chars[self.i..].iter().take_while(|&&c| c == '#').count();
        if self.at(self.i + hashes) != Some('"') {
            return;
        }
        let (start_line, open) = (self.line, self.code.len());
        let body = self.i + hashes + 1;
        let close = (body..chars.len())
            .find(|&j| {
                chars[j] == '"'
                    && chars[j + 1..].iter().take_while(|&&c| c == '#').count() >= hashes
            })
            .unwrap_or(chars.len());
        let text: String = chars[body..close].iter().collect();
        let end = (close + 1 + hashes).min(chars.len());
        self.copy_to(end);
        self.push_literal(start_line, open, text);
    }
}

/// The modules declared at the top level of a crate root or `mod.rs`: lines without
/// indentation of the form `[#[attr]] [pub[(..)]] mod name;` (inline `mod name { .. }` modules
/// are not files and do not count).
fn declared_modules(src: &str) -> Vec<String> {
    let lexed = lex(src);
    let mut out = Vec::new();
    for line in lexed.code.lines() {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let mut rest = line.trim();
        // Attributes on the same line: `#[cfg(test)] mod tests;`.
        while let Some(attr) = rest.strip_prefix("#[") {
            let mut depth = 1usize;
            let end = attr.char_indices().find_map(|(k, c)| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(k)
            });
            match end {
                Some(k) => rest = attr[k + 1..].trim_start(),
                None => break,
            }
        }
        if let Some(vis) = rest.strip_prefix("pub") {
            let vis = vis.trim_start();
            rest = match vis.strip_prefix('(') {
                Some(inner) => match inner.find(')') {
                    Some(k) => inner[k + 1..].trim_start(),
                    None => continue,
                },
                None => vis,
            };
        }
        let Some(decl) = rest.strip_prefix("mod ") else {
            continue;
        };
        let Some(name) = decl.trim().strip_suffix(';') else {
            continue;
        };
        let name = name.trim();
        if is_ident(name) {
            out.push(name.to_owned());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Check 1: module tables

/// Whose modules a section describes.
#[derive(Debug, PartialEq)]
enum Target {
    /// ``### `crates/NAME` ``.
    Crate(String),
    /// ``### Root package `NAME` ``.
    Root(String),
    /// A heading naming several crates (``### `crates/a`, `crates/b` ``).
    Several(Vec<String>),
    /// Any other heading.
    Other,
}

/// What a section heading names.
fn target(section: &Section) -> Target {
    if section.level != 3 {
        return Target::Other;
    }
    let spans = code_spans(&section.heading);
    if section.heading.starts_with("Root package")
        && let [name] = spans.as_slice()
    {
        return Target::Root((*name).to_owned());
    }
    let crates: Vec<String> = spans
        .iter()
        .filter_map(|s| s.strip_prefix("crates/"))
        .map(|s| s.trim_end_matches('/').to_owned())
        .collect();
    match crates.len() {
        0 => Target::Other,
        1 => Target::Crate(crates.into_iter().next().unwrap_or_default()),
        _ => Target::Several(crates),
    }
}

/// The name of the root package from `Cargo.toml` (`name = ".."` in `[package]`).
fn root_package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// The table entries (`x.rs` or `x/`) of the modules declared in `file` (`dir/lib.rs`,
/// `dir/main.rs` or `dir/mod.rs`), with problems for modules that have no file.
fn code_entries(tree: &dyn Tree, file: &str, problems: &mut Vec<String>) -> BTreeSet<String> {
    let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = BTreeSet::new();
    let Some(src) = tree.read(file) else {
        problems.push(format!("{file}: cannot be read"));
        return out;
    };
    for name in declared_modules(&src) {
        if tree.is_file(&format!("{dir}/{name}.rs")) {
            out.insert(format!("{name}.rs"));
        } else if tree.is_file(&format!("{dir}/{name}/mod.rs")) {
            out.insert(format!("{name}/"));
        } else {
            problems.push(format!(
                "{file}: declares `mod {name};` but neither {dir}/{name}.rs nor \
                 {dir}/{name}/mod.rs exists"
            ));
        }
    }
    out
}

/// The header row `| a | b |` of a table with the header cells `cells`, for messages.
fn header_row(cells: &[&str]) -> String {
    format!("| {} |", cells.join(" | "))
}

/// Compares the module (and command) tables of ARCHITECTURE.md with the code; returns how many
/// tables were compared.
fn check_module_tables(tree: &dyn Tree, problems: &mut Vec<String>) -> usize {
    let Some(doc) = tree.read(ARCHITECTURE) else {
        problems.push(format!("{ARCHITECTURE}: cannot be read"));
        return 0;
    };
    let (mut seen, mut compared) = (0, 0);
    for section in sections(&doc) {
        let tables = SectionTables::of(&section);
        seen += tables.modules.len();
        if !tables.modules.is_empty() || !tables.commands.is_empty() {
            compared += check_section(tree, &tables, problems);
        }
    }
    if seen == 0 {
        problems.push(format!(
            "{ARCHITECTURE}: no module table found; a crate section (``### `crates/NAME` ``) \
             needs a table with the header row `{}` (was the header renamed?)",
            header_row(&MODULE_HEADER)
        ));
    }
    compared
}

/// A section of ARCHITECTURE.md with its module and command tables.
struct SectionTables<'a> {
    /// The section.
    section: &'a Section,
    /// `docs/ARCHITECTURE.md:LINE` of the heading.
    place: String,
    /// The heading as written, with its `#`s.
    heading: String,
    /// The tables with the header [`MODULE_HEADER`].
    modules: Vec<&'a Table>,
    /// The tables with the header [`COMMAND_HEADER`].
    commands: Vec<&'a Table>,
}

impl<'a> SectionTables<'a> {
    /// The module and command tables of `section`.
    fn of(section: &'a Section) -> Self {
        let with = |header: &[&str]| -> Vec<&'a Table> {
            section
                .tables
                .iter()
                .filter(|t| t.header_is(header))
                .collect()
        };
        SectionTables {
            section,
            place: format!("{ARCHITECTURE}:{}", section.line),
            heading: format!("{} {}", "#".repeat(section.level), section.heading),
            modules: with(&MODULE_HEADER),
            commands: with(&COMMAND_HEADER),
        }
    }

    /// The one module table of the section; `None`, with a problem, when there are several
    /// module or command tables, or a command table without a module table.
    fn module_table(&self, problems: &mut Vec<String>) -> Option<&'a Table> {
        let (place, heading) = (&self.place, &self.heading);
        if self.modules.len() > 1 || self.commands.len() > 1 {
            problems.push(format!(
                "{place}: the section `{heading}` has {} module tables and {} command tables; \
                 at most one of each",
                self.modules.len(),
                self.commands.len()
            ));
            return None;
        }
        let table = self.modules.first().copied();
        if table.is_none() {
            problems.push(format!(
                "{ARCHITECTURE}:{}: a command table (`{}`) in section `{heading}` \
                 without a module table (`{}`)",
                self.commands.first().map_or(0, |t| t.line),
                header_row(&COMMAND_HEADER),
                header_row(&MODULE_HEADER)
            ));
        }
        table
    }
}

/// The crate (or root package) whose modules a section's tables list.
struct Described {
    /// The file declaring the modules: `crates/NAME/src/lib.rs` or `src/main.rs`.
    file: String,
    /// The crate's or package's name.
    label: String,
    /// Whether it is the root package.
    is_root: bool,
}

/// Checks the tables of one section against the code; returns how many were compared.
fn check_section(tree: &dyn Tree, tables: &SectionTables<'_>, problems: &mut Vec<String>) -> usize {
    let Some(described) = described_crate(tree, tables, problems) else {
        return 0;
    };
    let Some(module_table) = tables.module_table(problems) else {
        return 0;
    };
    if !tree.is_file(&described.file) {
        problems.push(format!(
            "{}: the section `{}` has a module table, but {} does not exist",
            tables.place, tables.heading, described.file
        ));
        return 0;
    }
    let doc_names = compare_module_table(tree, module_table, &described, problems);
    1 + check_command_table(tree, tables, &described, &doc_names, problems)
}

/// What crate a section with tables describes; `None`, with a problem, when its heading names
/// no crate or several. A root package heading must name the package of Cargo.toml.
fn described_crate(
    tree: &dyn Tree,
    tables: &SectionTables<'_>,
    problems: &mut Vec<String>,
) -> Option<Described> {
    let (place, heading) = (&tables.place, &tables.heading);
    match target(tables.section) {
        Target::Crate(name) => {
            // A library crate declares its modules in lib.rs, a binary-only crate in main.rs.
            let lib = format!("crates/{name}/src/lib.rs");
            let main = format!("crates/{name}/src/main.rs");
            Some(Described {
                file: if tree.is_file(&lib) || !tree.is_file(&main) {
                    lib
                } else {
                    main
                },
                label: name,
                is_root: false,
            })
        }
        Target::Root(name) => {
            check_root_package_name(tree, tables, &name, problems);
            Some(Described {
                file: "src/main.rs".to_owned(),
                label: name,
                is_root: true,
            })
        }
        Target::Several(names) => {
            problems.push(format!(
                "{place}: the section `{heading}` names several crates ({}) and has a module \
                 table; give each crate with a module table its own heading \
                 ``### `crates/NAME` ``",
                names.join(", ")
            ));
            None
        }
        Target::Other => {
            let first = tables.modules.first().or(tables.commands.first());
            problems.push(format!(
                "{ARCHITECTURE}:{}: a module or command table outside a crate section; \
                 it must follow a heading ``### `crates/NAME` `` or \
                 ``### Root package `NAME` `` (found under `{heading}`)",
                first.map_or(0, |t| t.line)
            ));
            None
        }
    }
}

/// Checks that the root package `name` of a section heading is the package of Cargo.toml.
fn check_root_package_name(
    tree: &dyn Tree,
    tables: &SectionTables<'_>,
    name: &str,
    problems: &mut Vec<String>,
) {
    let actual = tree.read("Cargo.toml").and_then(|m| root_package_name(&m));
    if actual.as_deref() != Some(name) {
        problems.push(format!(
            "{}: the heading `{}` names root package `{name}`, but Cargo.toml names it `{}`",
            tables.place,
            tables.heading,
            actual.as_deref().unwrap_or("(unknown)")
        ));
    }
}

/// Compares a module table with the modules the crate declares; returns the table's names.
fn compare_module_table(
    tree: &dyn Tree,
    table: &Table,
    described: &Described,
    problems: &mut Vec<String>,
) -> BTreeSet<String> {
    let doc_names = table_entries(table, "module", ARCHITECTURE, problems);
    let code_names = code_entries(tree, &described.file, problems);
    if let Some(diff) = set_difference(&doc_names, &code_names) {
        problems.push(format!(
            "{ARCHITECTURE}:{}: the module table of `{}` disagrees with the modules \
             declared in {}{diff}",
            table.line, described.label, described.file
        ));
    }
    doc_names
}

/// Checks the command table of a section: only in the root package's section, exactly when
/// its module table (with the names `doc_names`) has a `commands/` row, listing the command
/// modules. Returns how many tables were compared (0 or 1).
fn check_command_table(
    tree: &dyn Tree,
    tables: &SectionTables<'_>,
    described: &Described,
    doc_names: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> usize {
    let names_commands = doc_names.contains("commands/");
    let label = &described.label;
    match tables.commands.first() {
        Some(table) if !described.is_root => problems.push(format!(
            "{ARCHITECTURE}:{}: a command table belongs only in the root package's section",
            table.line
        )),
        Some(table) if !names_commands => problems.push(format!(
            "{ARCHITECTURE}:{}: a command table, but the module table of `{label}` has no \
             `commands/` row",
            table.line
        )),
        Some(table) => {
            compare_command_table(tree, table, problems);
            return 1;
        }
        None if described.is_root && names_commands => problems.push(format!(
            "{}: the module table of `{label}` has a `commands/` row, so the section \
             needs a command table with the header `{}` listing the modules \
             of src/commands/mod.rs",
            tables.place,
            header_row(&COMMAND_HEADER)
        )),
        None => {}
    }
    0
}

/// Compares the command table with the modules declared in `src/commands/mod.rs`.
fn compare_command_table(tree: &dyn Tree, table: &Table, problems: &mut Vec<String>) {
    let mod_rs = "src/commands/mod.rs";
    let doc_names = table_entries(table, "command", ARCHITECTURE, problems);
    let mut code_names = code_entries(tree, mod_rs, problems);
    // An optional `mod.rs` row describes the folder module's own file.
    if doc_names.contains("mod.rs") && tree.is_file(mod_rs) {
        code_names.insert("mod.rs".to_owned());
    }
    if let Some(diff) = set_difference(&doc_names, &code_names) {
        problems.push(format!(
            "{ARCHITECTURE}:{}: the command table disagrees with the modules \
             declared in {mod_rs}{diff}",
            table.line
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Check 2: key tags and keyspace names

/// One row of a key tag table.
#[derive(Debug, PartialEq)]
struct TagRow {
    /// 1-based line.
    line: usize,
    /// The tag character.
    tag: char,
    /// The keyspace name.
    keyspace: String,
}

/// The line of the first key tag table of FORMATS.md and the rows of every such table
/// (problems for malformed rows); `None` when there is no such table.
fn tag_rows(doc: &str, problems: &mut Vec<String>) -> Option<(usize, Vec<TagRow>)> {
    let tables: Vec<Table> = sections(doc)
        .into_iter()
        .flat_map(|s| s.tables)
        .filter(|t| t.header_starts_with(&TAG_HEADER))
        .collect();
    if tables.is_empty() {
        return None;
    }
    let mut rows = Vec::new();
    for table in &tables {
        if !table.delimited {
            problems.push(format!(
                "{FORMATS}:{}: the tag table has no delimiter row (`|---|---|`) after its header",
                table.line
            ));
        }
        for (line, cells) in &table.rows {
            let first = cells.first().map(String::as_str).unwrap_or("");
            let second = cells.get(1).map(String::as_str).unwrap_or("");
            let tag = backticked(first).and_then(|t| {
                let mut chars = t.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii() && !c.is_ascii_control() => Some(c),
                    _ => None,
                }
            });
            let keyspace = backticked(second).filter(|k| is_keyspace_name(k));
            match (tag, keyspace) {
                (Some(tag), Some(keyspace)) => rows.push(TagRow {
                    line: *line,
                    tag,
                    keyspace: keyspace.to_owned(),
                }),
                (None, _) => problems.push(format!(
                    "{FORMATS}:{line}: the first cell of a tag row must be one backticked ASCII \
                     character like `T`; found: {}",
                    shown(first)
                )),
                (_, None) => problems.push(format!(
                    "{FORMATS}:{line}: the second cell of a tag row must be one backticked \
                     keyspace name like `objects`; found: {}",
                    shown(second)
                )),
            }
        }
    }
    Some((tables[0].line, rows))
}

/// Whether `s` looks like a keyspace name (letters, digits, `_`, `-`, `#`, `.`).
fn is_keyspace_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '#' | '.'))
}

/// One tag constant of keys.rs.
#[derive(Debug, PartialEq)]
struct TagConst {
    /// 1-based line.
    line: usize,
    /// The constant's name.
    name: String,
    /// The tag character.
    tag: char,
}

/// The `[pub[(..)]] const NAME: u8 = b'X';` constants of keys.rs; problems for `u8` constants
/// of another form.
fn tag_consts(src: &str, file: &str, problems: &mut Vec<String>) -> Vec<TagConst> {
    let lexed = lex(src);
    let mut out = Vec::new();
    for (index, line) in lexed.code.lines().enumerate() {
        let text = line.trim();
        let Some(at) = text.find("const ") else {
            continue;
        };
        let vis = text[..at].trim();
        if !(vis.is_empty() || vis == "pub" || vis.starts_with("pub(")) {
            continue;
        }
        let decl = &text[at + "const ".len()..];
        let Some((name, rest)) = decl.split_once(':') else {
            continue;
        };
        let Some(value) = rest.trim().strip_prefix("u8") else {
            continue;
        };
        let name = name.trim();
        let value = value.trim().strip_prefix('=').map(str::trim);
        let tag = value
            .and_then(|v| v.strip_prefix("b'"))
            .and_then(|v| v.strip_suffix("';"))
            .and_then(|v| {
                let mut chars = v.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c != '\\' && c.is_ascii() && !c.is_ascii_control() => {
                        Some(c)
                    }
                    _ => None,
                }
            });
        match tag {
            Some(tag) => out.push(TagConst {
                line: index + 1,
                name: name.to_owned(),
                tag,
            }),
            None => problems.push(format!(
                "{file}:{}: the `u8` constant `{name}` is not of the form \
                 `pub(super) const {name}: u8 = b'X';`, so tidy cannot read its tag",
                index + 1
            )),
        }
    }
    out
}

/// The string literals of every `const KEYSPACES: [..] = [ .. ];` of `src`; `None` when there
/// is no such constant.
fn keyspaces_consts(src: &str) -> Option<Vec<String>> {
    let lexed = lex(src);
    let code = &lexed.code;
    let inside_literal = |pos: usize| {
        lexed
            .literals
            .iter()
            .any(|l| l.span.0 <= pos && pos < l.span.1)
    };
    let mut found = None;
    let mut from = 0;
    while let Some(k) = code[from..].find("const KEYSPACES") {
        let start = from + k;
        from = start + "const KEYSPACES".len();
        if inside_literal(start) {
            continue;
        }
        let Some(eq) = code[from..].find('=').map(|k| from + k) else {
            break;
        };
        let Some(open) = code[eq..].find('[').map(|k| eq + k) else {
            break;
        };
        let mut depth = 0usize;
        let close = code[open..].char_indices().find_map(|(k, c)| {
            let pos = open + k;
            if inside_literal(pos) {
                return None;
            }
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(pos)
        });
        let close = close.unwrap_or(code.len());
        let names = found.get_or_insert_with(Vec::new);
        names.extend(
            lexed
                .literals
                .iter()
                .filter(|l| open < l.span.0 && l.span.1 <= close)
                .map(|l| l.text.clone()),
        );
        from = close;
    }
    found
}

/// Compares the tag tables of FORMATS.md with keys.rs and the `KEYSPACES` constants; returns
/// every keyspace name known (from the code and the doc) for the third check.
fn check_key_tags(tree: &dyn Tree, problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut keyspaces = read_keyspaces(tree, problems);
    let consts = read_tag_consts(tree, problems);
    let code_tags = code_tag_set(&consts, problems);
    let Some((table_line, rows)) = read_tag_table(tree, problems) else {
        return keyspaces;
    };
    let place = format!("{FORMATS}:{table_line}");
    let doc_tags = doc_tag_set(&rows, problems);
    if let Some(diff) = set_difference(&doc_tags, &code_tags) {
        problems.push(format!(
            "{place}: the key tags of the tag table disagree with the tag constants of \
             {KEYS_RS}{diff}{}",
            code_only_hint(&consts, &doc_tags)
        ));
    }
    let doc_keyspaces: BTreeSet<String> = rows.iter().map(|r| r.keyspace.clone()).collect();
    if let Some(diff) = set_difference(&doc_keyspaces, &keyspaces) {
        problems.push(format!(
            "{place}: the keyspaces of the tag table disagree with the `KEYSPACES` constants \
             of {}{diff}",
            KEYSPACE_FILES.join(" and ")
        ));
    }
    keyspaces.extend(doc_keyspaces);
    keyspaces
}

/// The keyspace names of the `KEYSPACES` constants of [`KEYSPACE_FILES`].
fn read_keyspaces(tree: &dyn Tree, problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut keyspaces = BTreeSet::new();
    for file in KEYSPACE_FILES {
        match tree.read(file).as_deref().map(keyspaces_consts) {
            None => problems.push(format!("{file}: cannot be read")),
            Some(None) => problems.push(format!(
                "{file}: no `const KEYSPACES: [&'static str; N] = [..];` found"
            )),
            Some(Some(names)) => keyspaces.extend(names),
        }
    }
    keyspaces
}

/// The tag constants of keys.rs; a problem when it cannot be read or has none.
fn read_tag_consts(tree: &dyn Tree, problems: &mut Vec<String>) -> Vec<TagConst> {
    let Some(src) = tree.read(KEYS_RS) else {
        problems.push(format!("{KEYS_RS}: cannot be read"));
        return Vec::new();
    };
    let consts = tag_consts(&src, KEYS_RS, problems);
    if consts.is_empty() {
        problems.push(format!(
            "{KEYS_RS}: no tag constants (`pub(super) const NAME: u8 = b'X';`) found"
        ));
    }
    consts
}

/// The tags of `consts`, backticked; problems for tags used by several constants.
fn code_tag_set(consts: &[TagConst], problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut by_tag: BTreeMap<char, Vec<&str>> = BTreeMap::new();
    for c in consts {
        by_tag.entry(c.tag).or_default().push(&c.name);
    }
    for (tag, names) in &by_tag {
        if names.len() > 1 {
            problems.push(format!(
                "{KEYS_RS}: tag `{tag}` is used by several constants: {}",
                names.join(", ")
            ));
        }
    }
    by_tag.keys().map(|t| format!("`{t}`")).collect()
}

/// The line of the first tag table of FORMATS.md and the rows of all; `None`, with a problem,
/// when FORMATS.md cannot be read or has no tag table.
fn read_tag_table(tree: &dyn Tree, problems: &mut Vec<String>) -> Option<(usize, Vec<TagRow>)> {
    let Some(doc) = tree.read(FORMATS) else {
        problems.push(format!("{FORMATS}: cannot be read"));
        return None;
    };
    let table = tag_rows(&doc, problems);
    if table.is_none() {
        problems.push(format!(
            "{FORMATS}: no key tag table found; it needs a header row starting `{}` \
             (then one row per tag: `` | `T` | `tree_manifests` | .. | ``)",
            header_row(&TAG_HEADER)
        ));
    }
    table
}

/// The tags of the tag table rows, backticked; problems for tags listed twice.
fn doc_tag_set(rows: &[TagRow], problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut doc_tags = BTreeSet::new();
    for row in rows {
        if !doc_tags.insert(format!("`{}`", row.tag)) {
            problems.push(format!(
                "{FORMATS}:{}: tag `{}` is listed twice",
                row.line, row.tag
            ));
        }
    }
    doc_tags
}

/// The line naming the constants of tags missing from the doc's `doc_tags` (empty if none).
fn code_only_hint(consts: &[TagConst], doc_tags: &BTreeSet<String>) -> String {
    let names: Vec<String> = consts
        .iter()
        .filter(|c| !doc_tags.contains(&format!("`{}`", c.tag)))
        .map(|c| format!("{} = b'{}'", c.name, c.tag))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("\n    (code-only constants: {})", names.join(", "))
    }
}

// ---------------------------------------------------------------------------------------------
// Check 3: keyspace names and keys stay in the repository

/// The places in `src` that name a keyspace or the key module: `(line, what)`.
fn forbidden_hits(src: &str, keyspaces: &BTreeSet<String>) -> Vec<(usize, String)> {
    let lexed = lex(src);
    let mut hits = Vec::new();
    for literal in &lexed.literals {
        if keyspaces.contains(&literal.text) {
            hits.push((
                literal.line,
                format!("string literal \"{}\" (a keyspace name)", literal.text),
            ));
        }
    }
    for (index, line) in lexed.code.lines().enumerate() {
        for text in FORBIDDEN_TEXTS {
            let mut from = 0;
            while let Some(k) = line[from..].find(text) {
                let pos = from + k;
                from = pos + text.len();
                let word_start = line[..pos]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !ident_char(c));
                if word_start || !text.starts_with(ident_char) {
                    hits.push((index + 1, format!("`{text}`")));
                }
            }
        }
    }
    hits.sort();
    hits
}

/// Scans the files outside the repository for keyspace names; returns (files, hits).
fn check_keyspace_names(
    tree: &dyn Tree,
    keyspaces: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> (usize, usize) {
    let (mut files, mut count) = (0, 0);
    for dir in SCANNED_DIRS {
        let found = tree.rs_files(dir);
        if found.is_empty() {
            problems.push(format!("{dir}: no .rs files found to scan"));
        }
        for file in found {
            if file.starts_with(REPOSITORY_DIR) {
                continue;
            }
            let Some(src) = tree.read(&file) else {
                problems.push(format!("{file}: cannot be read"));
                continue;
            };
            files += 1;
            for (line, what) in forbidden_hits(&src, keyspaces) {
                count += 1;
                problems.push(format!(
                    "{file}:{line}: {what} outside {REPOSITORY_DIR}; keyspaces and keys are \
                     named only in the repository module"
                ));
            }
        }
    }
    (files, count)
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace held in memory.
    #[derive(Default)]
    struct Mem(BTreeMap<String, String>);

    impl Mem {
        fn with(mut self, path: &str, text: &str) -> Self {
            self.0.insert(path.to_owned(), text.to_owned());
            self
        }
    }

    impl Tree for Mem {
        fn read(&self, path: &str) -> Option<String> {
            self.0.get(path).cloned()
        }
        fn is_file(&self, path: &str) -> bool {
            self.0.contains_key(path)
        }
        fn rs_files(&self, dir: &str) -> Vec<String> {
            let prefix = format!("{}/", dir.trim_end_matches('/'));
            self.0
                .keys()
                .filter(|p| p.starts_with(&prefix) && p.ends_with(".rs"))
                .cloned()
                .collect()
        }
    }

    const LIB: &str = "//! The crate.\n\
        //! mod commented;\n\
        #![deny(missing_docs)]\n\
        \n\
        pub mod config;\n\
        mod caches;\n\
        pub(crate) mod naming;\n\
        #[cfg(feature = \"conformance\")]\n\
        pub mod conformance;\n\
        #[cfg(test)]\n\
        mod tests {\n    mod inner;\n}\n";

    fn crate_tree(lib: &str) -> Mem {
        Mem::default()
            .with("crates/demo/src/lib.rs", lib)
            .with("crates/demo/src/config.rs", "")
            .with("crates/demo/src/caches/mod.rs", "")
            .with("crates/demo/src/naming.rs", "")
            .with("crates/demo/src/conformance/mod.rs", "")
    }

    fn arch(rows: &[&str]) -> String {
        let mut doc =
            "# Architecture\n\n## Code map\n\n```\n### `crates/fake`\n| module | holds |\n```\n\n\
                       ### `crates/demo`\nWhat it holds.\n\n| module | holds |\n|---|---|\n"
                .to_owned();
        for row in rows {
            doc.push_str(&format!("| `{row}` | something |\n"));
        }
        doc.push_str("\n### `crates/other`\nNo table here.\n");
        doc
    }

    fn module_problems(tree: &Mem) -> Vec<String> {
        let mut problems = Vec::new();
        check_module_tables(tree, &mut problems);
        problems
    }

    #[test]
    fn declared_modules_reads_top_level_file_modules() {
        assert_eq!(
            declared_modules(LIB),
            ["config", "caches", "naming", "conformance"]
        );
        assert_eq!(
            declared_modules("#[cfg(test)] mod tests;\npub(in crate::x) mod y;\nmodule x;\n"),
            ["tests", "y"]
        );
    }

    #[test]
    fn module_table_equal_sets_pass() {
        let tree = crate_tree(LIB).with(
            ARCHITECTURE,
            &arch(&["config.rs", "caches/", "naming.rs", "conformance/"]),
        );
        assert_eq!(module_problems(&tree), Vec::<String>::new());
    }

    #[test]
    fn module_table_missing_and_extra_names_fail() {
        let tree = crate_tree(LIB).with(
            ARCHITECTURE,
            &arch(&["config.rs", "caches.rs", "naming.rs", "keys.rs"]),
        );
        let problems = module_problems(&tree);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        let p = &problems[0];
        assert!(p.starts_with("docs/ARCHITECTURE.md:13: "), "{p}");
        assert!(p.contains("crates/demo/src/lib.rs"), "{p}");
        assert!(p.contains("only in the doc:  caches.rs, keys.rs\n"), "{p}");
        assert!(p.contains("only in the code: caches/, conformance/"), "{p}");
    }

    #[test]
    fn module_table_malformed_and_duplicate_rows_fail() {
        let tree = crate_tree(LIB).with(
            ARCHITECTURE,
            &arch(&[
                "config.rs",
                "caches/",
                "naming.rs",
                "conformance/",
                "naming.rs",
                "config.rs`, `x.rs",
            ]),
        );
        let problems = module_problems(&tree);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("`naming.rs` is listed twice")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.contains(
                "docs/ARCHITECTURE.md:20: the first cell of a module row must be one backticked"
            ) && p.ends_with("found: `config.rs`, `x.rs`")),
            "{problems:#?}"
        );
    }

    #[test]
    fn no_module_table_fails() {
        let doc = arch(&["config.rs"]).replace("| module | holds |", "| file | holds |");
        let problems = module_problems(&crate_tree(LIB).with(ARCHITECTURE, &doc));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].contains("no module table found"),
            "{problems:#?}"
        );
    }

    #[test]
    fn module_table_outside_a_crate_section_fails() {
        let doc = "## Code map\n\n| module | holds |\n|---|---|\n| `config.rs` | x |\n";
        let problems = module_problems(&crate_tree(LIB).with(ARCHITECTURE, doc));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("docs/ARCHITECTURE.md:3: a module or command table outside")),
            "{problems:#?}"
        );
    }

    #[test]
    fn undeclared_module_file_is_reported() {
        let tree = crate_tree("mod gone;\n").with(ARCHITECTURE, &arch(&["gone.rs"]));
        let problems = module_problems(&tree);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("neither crates/demo/src/gone.rs")),
            "{problems:#?}"
        );
    }

    fn root_tree(doc: &str) -> Mem {
        Mem::default()
            .with(
                "Cargo.toml",
                "[workspace]\nname = \"no\"\n[package]\nname = \"tool\"\n",
            )
            .with(ARCHITECTURE, doc)
            .with("src/main.rs", "mod backend;\nmod commands;\nfn main() {}\n")
            .with("src/backend.rs", "")
            .with("src/commands/mod.rs", "mod plan;\nmod stats;\n")
            .with("src/commands/plan.rs", "")
            .with("src/commands/stats.rs", "")
    }

    const ROOT_DOC: &str = "### Root package `tool`\nThe CLI.\n\n\
        | module | holds |\n|---|---|\n| `backend.rs` | b |\n| `commands/` | c |\n\n\
        | command | does |\n|---|---|\n| `plan.rs` | p |\n| `stats.rs` | s |\n";

    #[test]
    fn root_package_and_command_table() {
        assert_eq!(module_problems(&root_tree(ROOT_DOC)), Vec::<String>::new());
        let with_mod_rs =
            ROOT_DOC.replace("| `plan.rs` |", "| `mod.rs` | dispatch |\n| `plan.rs` |");
        assert_eq!(
            module_problems(&root_tree(&with_mod_rs)),
            Vec::<String>::new()
        );

        let problems = module_problems(&root_tree(&ROOT_DOC.replace("stats.rs", "lookup.rs")));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("src/commands/mod.rs"), "{problems:#?}");
        assert!(
            problems[0].contains("only in the doc:  lookup.rs\n"),
            "{problems:#?}"
        );
        assert!(
            problems[0].contains("only in the code: stats.rs"),
            "{problems:#?}"
        );

        let without = ROOT_DOC.split("| command").next().unwrap_or_default();
        let problems = module_problems(&root_tree(without));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].contains("needs a command table"),
            "{problems:#?}"
        );

        let problems = module_problems(&root_tree(&ROOT_DOC.replace("`tool`", "`cli`")));
        assert!(
            problems[0].contains("Cargo.toml names it `tool`"),
            "{problems:#?}"
        );
    }

    #[test]
    fn several_crates_in_one_heading_with_a_table_fail() {
        let doc = arch(&["config.rs", "caches/", "naming.rs", "conformance/"])
            .replace("### `crates/demo`", "### `crates/demo`, `crates/other`");
        let problems = module_problems(&crate_tree(LIB).with(ARCHITECTURE, &doc));
        assert!(
            problems.iter().any(|p| p.contains("names several crates")),
            "{problems:#?}"
        );
    }

    const KEYS: &str = "//! Keys. `pub const X: u8 = b'Z';` in a comment does not count.\n\
        use x::y;\n\
        /// Tag of tree manifest keys.\n\
        pub(super) const TREE_MANIFEST: u8 = b'T';\n\
        pub const LEDGER_ENTRY: u8 = b'O';\n\
        pub(super) const PRESENCE: u8 = b'P';\n\
        const CHUNK: usize = 4;\n";

    const ENDPOINT: &str = "impl<D> EndpointCache<D> {\n\
        /// The keyspaces: \"not_this\".\n\
        pub const KEYSPACES: [&'static str; 2] = [\n\
            \"objects\", // the ledger\n\
            \"file_paths\",\n\
        ];\n\
        fn other() -> &'static str { \"not_a_keyspace\" }\n}\n";

    const COORDINATOR: &str = "pub const KEYSPACES: [&'static str; 1] =\n    [\"tree_manifests\"];\nconst Y: [u8; 1] = [1];\n";

    fn formats(rows: &[(&str, &str)]) -> String {
        let mut doc =
            "# Formats\n\n| keyspace | key | record |\n|---|---|---|\n| `a` | b | c |\n\n\
                       ## Tags\n\n| tag | keyspace | key | record |\n|---|---|---|---|\n"
                .to_owned();
        for (tag, keyspace) in rows {
            doc.push_str(&format!("| `{tag}` | `{keyspace}` | dataset | r |\n"));
        }
        doc
    }

    fn tag_tree(doc: &str) -> Mem {
        Mem::default()
            .with(FORMATS, doc)
            .with(KEYS_RS, KEYS)
            .with(KEYSPACE_FILES[0], ENDPOINT)
            .with(KEYSPACE_FILES[1], COORDINATOR)
    }

    fn tag_problems(tree: &Mem) -> (Vec<String>, BTreeSet<String>) {
        let mut problems = Vec::new();
        let names = check_key_tags(tree, &mut problems);
        (problems, names)
    }

    #[test]
    fn tag_constants_and_keyspaces_are_read() {
        let mut problems = Vec::new();
        let consts = tag_consts(KEYS, KEYS_RS, &mut problems);
        assert_eq!(problems, Vec::<String>::new());
        let read: Vec<(&str, char, usize)> = consts
            .iter()
            .map(|c| (c.name.as_str(), c.tag, c.line))
            .collect();
        assert_eq!(
            read,
            [
                ("TREE_MANIFEST", 'T', 4),
                ("LEDGER_ENTRY", 'O', 5),
                ("PRESENCE", 'P', 6)
            ]
        );
        assert_eq!(
            keyspaces_consts(ENDPOINT),
            Some(vec!["objects".to_owned(), "file_paths".to_owned()])
        );
        assert_eq!(
            keyspaces_consts(COORDINATOR),
            Some(vec!["tree_manifests".to_owned()])
        );
        assert_eq!(keyspaces_consts("const OTHER: [&str; 1] = [\"x\"];"), None);

        let mut problems = Vec::new();
        tag_consts("pub(super) const ODD: u8 = 0x54;\n", KEYS_RS, &mut problems);
        assert!(
            problems[0].contains("`ODD` is not of the form"),
            "{problems:#?}"
        );
    }

    #[test]
    fn tag_table_equal_sets_pass() {
        let doc = formats(&[
            ("T", "tree_manifests"),
            ("O", "objects"),
            ("P", "objects"),
            ("F", "file_paths"),
        ]);
        // `F` has no constant here: add it.
        let tree = tag_tree(&doc).with(
            KEYS_RS,
            &format!("{KEYS}pub(super) const FILE_PATH: u8 = b'F';\n"),
        );
        let (problems, names) = tag_problems(&tree);
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["file_paths", "objects", "tree_manifests"]
        );
    }

    #[test]
    fn tag_table_missing_and_extra_names_fail() {
        let doc = formats(&[
            ("T", "tree_manifests"),
            ("O", "objects"),
            ("X", "objects"),
            ("Q", "listing_cache"),
        ]);
        let (problems, _) = tag_problems(&tag_tree(&doc));
        assert_eq!(problems.len(), 2, "{problems:#?}");
        let tags = &problems[0];
        assert!(tags.starts_with("docs/FORMATS.md:9: "), "{tags}");
        assert!(tags.contains("only in the doc:  `Q`, `X`\n"), "{tags}");
        assert!(tags.contains("only in the code: `P`\n"), "{tags}");
        assert!(
            tags.ends_with("(code-only constants: PRESENCE = b'P')"),
            "{tags}"
        );
        let keyspaces = &problems[1];
        assert!(
            keyspaces.contains("only in the doc:  listing_cache\n"),
            "{keyspaces}"
        );
        assert!(
            keyspaces.contains("only in the code: file_paths"),
            "{keyspaces}"
        );
    }

    #[test]
    fn tag_table_malformed_rows_and_missing_table_fail() {
        let doc = formats(&[
            ("T", "tree_manifests"),
            ("TT", "objects"),
            ("O", "objects, x"),
        ]);
        let (problems, _) = tag_problems(&tag_tree(&doc));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("docs/FORMATS.md:12: the first cell")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("docs/FORMATS.md:13: the second cell")),
            "{problems:#?}"
        );

        let doc = formats(&[("T", "tree_manifests")]).replace("| tag |", "| Tag |");
        let (problems, names) = tag_problems(&tag_tree(&doc));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].contains("no key tag table found"),
            "{problems:#?}"
        );
        // The code's keyspaces are still known for the third check.
        assert!(names.contains("objects"));

        let doc = formats(&[("T", "tree_manifests"), ("T", "objects")]);
        let (problems, _) = tag_problems(&tag_tree(&doc));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("tag `T` is listed twice")),
            "{problems:#?}"
        );
    }

    #[test]
    fn duplicate_tag_constants_fail() {
        let tree = tag_tree(&formats(&[("T", "tree_manifests")])).with(
            KEYS_RS,
            "pub(super) const A: u8 = b'T';\npub(super) const B: u8 = b'T';\n",
        );
        let (problems, _) = tag_problems(&tree);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("tag `T` is used by several constants: A, B")),
            "{problems:#?}"
        );
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn forbidden_hits_match_literals_and_texts_outside_comments() {
        let keyspaces = names(&["objects", "file_paths"]);
        let src = "//! Counts `objects` and \"objects\" in docs: fine.\n\
            fn f() {\n\
                let a = \"objects\"; // \"file_paths\" in a comment is fine\n\
                let b = \"objects2\";\n\
                let c = '\"'; let d = \"file_paths\";\n\
                /* keys:: and \"objects\" in a block /* nested */ comment */\n\
                let e = super::keys::per_dataset(1);\n\
                let f = monkeys::x(); let g = format!(\"{}#chunks\", n);\n\
                let h = r#\"objects\"#; let i = b\"file_paths\";\n\
                let j: &'static str = \"a \\\"objects\\\" b\";\n\
            }\n";
        let hits = forbidden_hits(src, &keyspaces);
        assert_eq!(
            hits,
            [
                (3, "string literal \"objects\" (a keyspace name)".to_owned()),
                (
                    5,
                    "string literal \"file_paths\" (a keyspace name)".to_owned()
                ),
                (7, "`keys::`".to_owned()),
                (8, "`#chunks`".to_owned()),
                (
                    9,
                    "string literal \"file_paths\" (a keyspace name)".to_owned()
                ),
                (9, "string literal \"objects\" (a keyspace name)".to_owned()),
            ]
        );
    }

    #[test]
    fn keyspace_names_are_reported_with_file_and_line_outside_the_repository() {
        let keyspaces = names(&["objects"]);
        let tree = Mem::default()
            .with("crates/cache-sai3/src/lib.rs", "pub mod caches;\n")
            .with(
                "crates/cache-sai3/src/caches/endpoint.rs",
                "const K: &str = \"objects\"; use keys::x;\n",
            )
            .with(
                "crates/cache-sai3/src/prepare/mod.rs",
                "\n\nlet k = \"objects\";\n",
            )
            .with("src/main.rs", "fn main() {}\n");
        let mut problems = Vec::new();
        let (files, hits) = check_keyspace_names(&tree, &keyspaces, &mut problems);
        assert_eq!((files, hits), (3, 1));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].starts_with(
                "crates/cache-sai3/src/prepare/mod.rs:3: string literal \"objects\" (a keyspace \
                 name) outside crates/cache-sai3/src/caches/"
            ),
            "{problems:#?}"
        );
    }

    #[test]
    fn markdown_tables_and_fences() {
        let doc = "# A\n```\n| tag | keyspace |\n```\n| tag | keyspace |\n| --- | :-: |\n\
                   | `T` | `x \\| y` |\ntext\n| a | b |\n";
        let s = sections(doc);
        let tables: Vec<&Table> = s.iter().flat_map(|s| &s.tables).collect();
        assert_eq!(tables.len(), 2, "{tables:#?}");
        assert_eq!(tables[0].line, 5);
        assert!(tables[0].delimited);
        assert_eq!(
            tables[0].rows,
            [(7, vec!["`T`".to_owned(), "`x | y`".to_owned()])]
        );
        assert!(!tables[1].delimited);
    }
}
