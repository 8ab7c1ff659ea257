//! `clear`, `export` and `import`: managing whole caches.
//!
//! The caches of a config are the coordinator cache in the cache dir and one cache per
//! endpoint (inside `file://` endpoints, under the cache dir for object stores). Without
//! `--config`, only the coordinator cache and the object-store endpoint caches found under the
//! cache dir are concerned.
//!
//! Export archive (`.tar.zst`, streamed: memory stays flat whatever the size):
//! ```text
//! SAI3-CACHE-EXPORT     JSON manifest, first entry: format, backend, caches (dir, location)
//! caches/0/...          one directory per cache, as on disk
//! ```
//! Run export and import while no prepare is running: caches must be closed to be copied.

use std::fs;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cache_core::database::validate_internal_keyspace_name;
use cache_core::marker::MARKER_FILE;
use cache_core::{Database, OpenOptions};
use cache_sai3::coordinator::coordinator_location;
use cache_sai3::dataset::Dataset;
use cache_sai3::endpoint_cache::cache_location;
use serde::{Deserialize, Serialize};

/// Name of the manifest inside an export archive.
const MANIFEST: &str = "SAI3-CACHE-EXPORT";

#[derive(Debug, Serialize, Deserialize)]
struct ExportManifest {
    format: u32,
    backend: String,
    caches: Vec<ExportedCache>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ExportedCache {
    /// Directory inside the archive (`caches/N`).
    dir: String,
    /// Where it lives: relative paths are relative to the cache dir, absolute ones are
    /// `file://` endpoint caches.
    location: PathBuf,
}

/// The caches concerned: (location to store in a manifest, path on disk).
fn caches_of(config: Option<&Path>, cache_dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    let coordinator = coordinator_location(cache_dir);
    let rel = |p: &Path| {
        p.strip_prefix(cache_dir)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| p.to_path_buf())
    };
    out.push((rel(&coordinator), coordinator));
    let endpoints_dir = cache_dir.join("endpoints");
    if let Ok(entries) = fs::read_dir(&endpoints_dir) {
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            out.push((rel(&d), d));
        }
    }
    if let Some(config) = config {
        let dataset = Dataset::load(config)?;
        for uri in &dataset.endpoints {
            let loc = cache_location(uri, cache_dir)?;
            if !out.iter().any(|(_, p)| *p == loc) {
                out.push((rel(&loc), loc));
            }
        }
    }
    Ok(out
        .into_iter()
        .filter(|(_, p)| p.join(MARKER_FILE).exists())
        .collect())
}

pub fn clear<D: Database>(
    config: Option<&Path>,
    cache_dir: &Path,
    keyspace: Option<&str>,
    all: bool,
) -> Result<ExitCode> {
    let caches = caches_of(config, cache_dir)?;
    if caches.is_empty() {
        eprintln!("no cache found (cache dir {})", cache_dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    for (_, path) in caches {
        if all {
            // Only directories that carry our marker are removed.
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            println!("removed {}", path.display());
            continue;
        }
        let Some(name) = keyspace else {
            bail!("give --keyspace NAME or --all")
        };
        validate_internal_keyspace_name(name)?;
        let options = OpenOptions {
            create_if_missing: false,
            ..OpenOptions::default()
        };
        let db =
            D::open(&path, &options).with_context(|| format!("cannot open {}", path.display()))?;
        let mut dropped = db.drop_keyspace(name)?;
        dropped |= db.drop_keyspace(&format!("{name}{}", cache_core::framed::CHUNKS_SUFFIX))?;
        if dropped {
            println!("cleared keyspace {name} in {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export<D: Database>(
    config: Option<&Path>,
    cache_dir: &Path,
    output: &Path,
) -> Result<ExitCode> {
    let caches = caches_of(config, cache_dir)?;
    if caches.is_empty() {
        bail!(
            "no cache to export under {} (give --config to include file:// endpoint caches)",
            cache_dir.display()
        );
    }
    // Each cache must be a cache of this backend (and is closed again at once).
    for (_, path) in &caches {
        let options = OpenOptions {
            create_if_missing: false,
            ..OpenOptions::default()
        };
        drop(D::open(path, &options).with_context(|| format!("cannot export {}", path.display()))?);
    }
    let manifest = ExportManifest {
        format: 1,
        backend: D::BACKEND.to_owned(),
        caches: caches
            .iter()
            .enumerate()
            .map(|(i, (location, _))| ExportedCache {
                dir: format!("caches/{i}"),
                location: location.clone(),
            })
            .collect(),
    };
    let tmp = output.with_extension("partial");
    let file =
        fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let encoder = zstd::Encoder::new(BufWriter::new(file), 3)?;
    let mut tar = tar::Builder::new(encoder);
    tar.follow_symlinks(false);
    let json = serde_json::to_vec_pretty(&manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, json.as_slice())?;
    for (entry, (_, path)) in manifest.caches.iter().zip(&caches) {
        tar.append_dir_all(&entry.dir, path)
            .with_context(|| format!("cannot archive {}", path.display()))?;
    }
    let encoder = tar.into_inner()?;
    let writer = encoder.finish()?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    fs::rename(&tmp, output)?;
    println!("exported {} caches to {}", caches.len(), output.display());
    Ok(ExitCode::SUCCESS)
}

/// A path inside the archive that stays inside it.
fn safe_relative(p: &Path) -> bool {
    p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Moves a directory, across file systems if needed.
fn move_dir(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    if fs::rename(from, to).is_ok() {
        return Ok(());
    }
    copy_dir(from, to)?;
    fs::remove_dir_all(from)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type()?.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

pub fn import<D: Database>(input: &Path, cache_dir: &Path, force: bool) -> Result<ExitCode> {
    let file = fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let decoder = zstd::Decoder::new(BufReader::new(file)).context("not a zstd archive")?;
    let mut archive = tar::Archive::new(decoder);
    fs::create_dir_all(cache_dir)?;
    let staging = cache_dir.join(format!(".import-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    let result = (|| -> Result<ExportManifest> {
        let mut manifest: Option<ExportManifest> = None;
        let entries = archive
            .entries()
            .context("archive is damaged or truncated")?;
        for entry in entries {
            let mut entry =
                entry.with_context(|| format!("{} is damaged or truncated", input.display()))?;
            let path = entry.path()?.into_owned();
            if !safe_relative(&path) {
                bail!(
                    "{} holds an entry outside the archive ({}): refused",
                    input.display(),
                    path.display()
                );
            }
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_dir() || kind.is_gnu_sparse()) {
                bail!(
                    "{} holds a link or special file ({}): refused",
                    input.display(),
                    path.display()
                );
            }
            if path == Path::new(MANIFEST) {
                let mut text = String::new();
                entry.read_to_string(&mut text)?;
                manifest = Some(serde_json::from_str(&text).context("export manifest is damaged")?);
                continue;
            }
            if manifest.is_none() {
                bail!(
                    "{} is not a sai3-cache export (no {MANIFEST} first)",
                    input.display()
                );
            }
            if !entry.unpack_in(&staging)? {
                bail!(
                    "entry {} would leave the import directory: refused",
                    path.display()
                );
            }
        }
        manifest.ok_or_else(|| {
            anyhow::anyhow!(
                "{} is not a sai3-cache export (no {MANIFEST})",
                input.display()
            )
        })
    })();
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if manifest.backend != D::BACKEND {
        let _ = fs::remove_dir_all(&staging);
        bail!(
            "{} holds {} caches; import it with --backend {}",
            input.display(),
            manifest.backend,
            manifest.backend
        );
    }
    // Validate every cache before installing any.
    let mut installs = Vec::new();
    for c in &manifest.caches {
        let dir = Path::new(&c.dir);
        if !safe_relative(dir) || !safe_relative(&c.location) && !c.location.is_absolute() {
            bail!(
                "export manifest names an unsafe path ({} -> {})",
                c.dir,
                c.location.display()
            );
        }
        let src = staging.join(dir);
        let options = OpenOptions {
            create_if_missing: false,
            ..OpenOptions::default()
        };
        if let Err(e) = D::open(&src, &options) {
            let _ = fs::remove_dir_all(&staging);
            bail!("cache {} in the archive is not usable: {e}", c.dir);
        }
        let dest = if c.location.is_absolute() {
            c.location.clone()
        } else {
            cache_dir.join(&c.location)
        };
        if dest.exists() && !force {
            let _ = fs::remove_dir_all(&staging);
            bail!(
                "{} already exists; pass --force to replace it (the old one is kept aside)",
                dest.display()
            );
        }
        installs.push((src, dest));
    }
    let stamp = cache_core::ttl::Clock::now(&cache_core::ttl::SystemClock);
    for (src, dest) in installs {
        if dest.exists() {
            let aside = dest.with_file_name(format!(
                "{}.replaced-{stamp}",
                dest.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            fs::rename(&dest, &aside)?;
        }
        move_dir(&src, &dest).with_context(|| format!("cannot install {}", dest.display()))?;
        println!("imported {}", dest.display());
    }
    let _ = fs::remove_dir_all(&staging);
    Ok(ExitCode::SUCCESS)
}
