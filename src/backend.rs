//! Runtime choice among the backends compiled into this build, and the commands that only need
//! the `cache-core` traits (generic over the backend).

use std::path::Path;

use anyhow::{Context, Result};
use cache_core::{Database, Keyspace, OpenOptions};

/// A storage engine compiled into this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// fjall: LSM-tree, smaller files, fastest bulk loads.
    #[cfg(feature = "fjall")]
    Fjall,
    /// redb: copy-on-write B-tree in one file, fastest point reads.
    #[cfg(feature = "redb")]
    Redb,
}

#[cfg(not(any(feature = "fjall", feature = "redb")))]
compile_error!("build sai3-cache with at least one backend feature: `fjall` or `redb`");

impl Default for BackendChoice {
    /// fjall when it is built in, else redb.
    fn default() -> Self {
        #[cfg(feature = "fjall")]
        return BackendChoice::Fjall;
        #[cfg(not(feature = "fjall"))]
        return BackendChoice::Redb;
    }
}

/// Runs `stats` on the chosen backend.
pub fn stats(choice: BackendChoice, dir: &Path, json: bool) -> Result<()> {
    match choice {
        #[cfg(feature = "fjall")]
        BackendChoice::Fjall => stats_with::<cache_fjall::FjallDatabase>(dir, json),
        #[cfg(feature = "redb")]
        BackendChoice::Redb => stats_with::<cache_redb::RedbDatabase>(dir, json),
    }
}

fn stats_with<D: Database>(dir: &Path, json: bool) -> Result<()> {
    let options = OpenOptions {
        create_if_missing: false,
        ..OpenOptions::default()
    };
    let db = D::open(dir, &options)
        .with_context(|| format!("cannot open the cache at {}", dir.display()))?;
    let mut rows = Vec::new();
    for name in db.keyspace_names()? {
        let len = db.keyspace(&name)?.approximate_len()?;
        rows.push((name, len));
    }
    let bytes = db.disk_space()?;
    if json {
        let keyspaces: Vec<String> = rows
            .iter()
            .map(|(n, l)| format!("{{\"name\":{},\"approximate_entries\":{l}}}", json_str(n)))
            .collect();
        println!(
            "{{\"backend\":{},\"path\":{},\"bytes_on_disk\":{bytes},\"keyspaces\":[{}]}}",
            json_str(D::BACKEND),
            json_str(&dir.display().to_string()),
            keyspaces.join(",")
        );
    } else {
        println!("cache      {}", dir.display());
        println!("backend    {}", D::BACKEND);
        println!("on disk    {bytes} bytes");
        println!("{:<32} {:>16}", "keyspace", "~entries");
        for (name, len) in rows {
            println!("{name:<32} {len:>16}");
        }
    }
    Ok(())
}

/// A JSON string literal (quotes, backslashes and control characters escaped).
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
