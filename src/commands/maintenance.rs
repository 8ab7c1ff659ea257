//! `clear`, `export` and `import`: managing whole caches.
//!
//! The caches of a config are the coordinator cache in the cache dir and one cache per
//! endpoint (inside `file://` endpoints, under the cache dir for object stores). Without
//! `--config`, only the coordinator cache and the object-store endpoint caches found under the
//! cache dir are concerned.
//!
//! The export archive (`.tar.zst`) is written and read by [`cache_sai3::archive`]; this
//! module picks the caches and installs what an archive holds. Run export and import while no prepare is running: caches must be closed to be copied (a
//! cache in use is reported as such, or waited for with `--wait`).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use cache_core::lock::DirectoryLock;
use cache_core::marker::MARKER_FILE;
use cache_core::{Database, OpenOptions};
use cache_sai3::archive::{self, ArchiveError, ExportManifest, ExportedCache, Limits};
use cache_sai3::caches::{
    clear_keyspace, coordinator_location, namespace_cache_root, open_waiting, shards_in,
};
use cache_sai3::dataset::Dataset;
use serde::Serialize;

use super::{Session, outln};
use crate::progress::{Reporter, Status, Unit};

/// A reader that counts the bytes through it (for the progress display).
struct Counted<T> {
    inner: T,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A display of `bytes` of `total` in `phase` (dropped: ended).
fn show_bytes(
    session: &Session,
    json: bool,
    phase: &'static str,
    total: u64,
) -> (Arc<AtomicU64>, Reporter) {
    let bytes = Arc::new(AtomicU64::new(0));
    let shown = bytes.clone();
    let reporter = Reporter::start(session.shows_progress(json), move || {
        Status::of(phase, shown.load(Ordering::Relaxed), total, Unit::Bytes)
    });
    (bytes, reporter)
}

/// Bytes of the files under `dirs`.
fn bytes_under(dirs: impl Iterator<Item = PathBuf>) -> u64 {
    dirs.flat_map(|d| walkdir::WalkDir::new(d).follow_links(false))
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Which caches a maintenance command works on.
pub struct Target {
    /// A config whose `file://` endpoint caches are included.
    pub config: Option<PathBuf>,
    /// The cache dir (coordinator and object-store endpoint caches).
    pub cache_dir: PathBuf,
}

/// One cache concerned: where it is recorded in a manifest, where it is on disk, and for a
/// `file://` endpoint cache, its endpoint and agent.
struct CacheAt {
    location: PathBuf,
    path: PathBuf,
    endpoint: Option<(String, u32)>,
}

/// The caches concerned.
fn caches_of(config: Option<&Path>, cache_dir: &Path) -> Result<Vec<CacheAt>> {
    let mut out = Vec::new();
    let coordinator = coordinator_location(cache_dir);
    let rel = |p: &Path| {
        p.strip_prefix(cache_dir)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let at = |path: PathBuf, endpoint: Option<(String, u32)>| CacheAt {
        location: rel(&path),
        path,
        endpoint,
    };
    out.push(at(coordinator, None));
    let endpoints_dir = cache_dir.join("endpoints");
    if let Ok(entries) = fs::read_dir(&endpoints_dir) {
        // Endpoint caches are named by 16 hex digits; `*.damaged-*` copies moved aside and
        // staging directories of a pull are not caches of this dir.
        let is_cache_name = |n: &std::ffi::OsStr| {
            n.to_str()
                .is_some_and(|n| n.len() == 16 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| is_cache_name(&e.file_name()))
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for (_, shard) in dirs.iter().flat_map(|d| shards_in(d)) {
            out.push(at(shard, None));
        }
    }
    if let Some(config) = config {
        let dataset = Dataset::load(config)?;
        for uri in &dataset.endpoints {
            for (agent, loc) in shards_in(&namespace_cache_root(uri, cache_dir)?) {
                if !out.iter().any(|c| c.path == loc) {
                    let endpoint = loc.is_absolute().then(|| (uri.clone(), agent));
                    out.push(at(loc, endpoint));
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .filter(|c| c.path.join(MARKER_FILE).exists())
        .collect())
}

/// After the last shard of a namespace is removed, its `agents/` directory and the namespace's
/// cache directory go too when they are empty (`remove_dir` never removes anything else).
fn remove_empty_shard_parents(shard: &Path) {
    let agents = shard.parent().filter(|p| p.ends_with("agents"));
    for dir in agents
        .into_iter()
        .flat_map(|a| [Some(a), a.parent()])
        .flatten()
    {
        if fs::remove_dir(dir).is_err() {
            break;
        }
    }
}

/// What `clear` did.
#[derive(Debug, Default, Serialize)]
struct Cleared {
    /// Caches removed entirely (`--all`).
    removed: Vec<PathBuf>,
    /// Caches whose keyspace held data and was emptied.
    cleared: Vec<PathBuf>,
    /// The keyspace emptied.
    keyspace: Option<String>,
}

pub fn clear<D: Database>(
    session: &Session,
    target: &Target,
    keyspace: Option<&str>,
    all: bool,
    json: bool,
) -> Result<ExitCode> {
    let caches = caches_of(target.config.as_deref(), &target.cache_dir)?;
    if caches.is_empty() {
        session.note(&format!(
            "no cache found (cache dir {})",
            target.cache_dir.display()
        ));
    }
    let mut done = Cleared {
        keyspace: keyspace.map(str::to_owned),
        ..Cleared::default()
    };
    for CacheAt { path, .. } in caches {
        if all {
            // Only directories that carry our marker are removed, and only under their lock:
            // a cache a running process holds is in use (exit 75, or `--wait`), never removed.
            let lock = open_waiting(session.open, || {
                Ok(DirectoryLock::acquire(&path, D::BACKEND)?)
            })?;
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            drop(lock);
            remove_empty_shard_parents(&path);
            done.removed.push(path);
            continue;
        }
        let Some(name) = keyspace else {
            bail!("give --keyspace NAME or --all")
        };
        if clear_keyspace::<D>(&path, name, session.open)? {
            done.cleared.push(path);
        }
    }
    if json {
        return super::print_json(&done).map(|()| ExitCode::SUCCESS);
    }
    for p in &done.removed {
        outln!("removed {}", p.display());
    }
    for p in &done.cleared {
        outln!(
            "cleared keyspace {} in {}",
            keyspace.unwrap_or_default(),
            p.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the existing cache at `path` (creating nothing), waiting per `session`.
fn open_existing<D: Database>(session: &Session, path: &Path) -> cache_sai3::Result<D> {
    let options = OpenOptions {
        create_if_missing: false,
        ..OpenOptions::default()
    };
    open_waiting(session.open, || Ok(D::open(path, &options)?))
}

/// What `export` wrote.
#[derive(Debug, Serialize)]
struct Exported<'a> {
    output: &'a Path,
    manifest: &'a ExportManifest,
}

pub fn export<D: Database>(
    session: &Session,
    target: &Target,
    output: &Path,
    json: bool,
) -> Result<ExitCode> {
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent.filter(|p| !p.is_dir()) {
        bail!(
            "cannot export to {}: the directory {} does not exist",
            output.display(),
            dir.display()
        );
    }
    let caches = caches_of(target.config.as_deref(), &target.cache_dir)?;
    if caches.is_empty() {
        bail!(
            "no cache to export under {} (give --config to include file:// endpoint caches)",
            target.cache_dir.display()
        );
    }
    // Each cache must be a cache of this backend, not in use (and is closed again at once).
    for c in &caches {
        drop(
            open_existing::<D>(session, &c.path)
                .with_context(|| format!("cannot export {}", c.path.display()))?,
        );
    }
    let exported = caches.iter().enumerate().map(|(i, c)| ExportedCache {
        endpoint: c.endpoint.as_ref().map(|(uri, _)| uri.clone()),
        agent: c.endpoint.as_ref().map(|&(_, agent)| agent),
        ..ExportedCache::in_cache_dir(i, &c.location)
    });
    let manifest = ExportManifest::new(D::BACKEND, exported.collect());
    let sources: Vec<&Path> = caches.iter().map(|c| c.path.as_path()).collect();
    let total = bytes_under(caches.iter().map(|c| c.path.clone()));
    let (archived, reporter) = show_bytes(session, json, "exporting", total);
    let written = archive::write(output, &manifest, &sources, &archived);
    drop(reporter);
    written?;
    if json {
        super::print_json(&Exported {
            output,
            manifest: &manifest,
        })?;
    } else {
        outln!("exported {} caches to {}", caches.len(), output.display());
    }
    Ok(ExitCode::SUCCESS)
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

/// Copies a directory tree (regular files and directories; links were refused on unpacking).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry?;
        let dst = to.join(entry.path().strip_prefix(from)?);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dst)?;
        } else {
            fs::copy(entry.path(), &dst)?;
        }
    }
    Ok(())
}

/// Unpacks `input` into `staging` (every entry checked, nothing outside `staging`), counting the
/// archive's bytes read in `read`.
fn unpack(
    input: &Path,
    staging: &Path,
    read: Arc<AtomicU64>,
    limits: Limits,
) -> Result<ExportManifest> {
    let file = fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let counted = Counted {
        inner: file,
        bytes: read,
    };
    archive::unpack(counted, staging, limits).map_err(|e| match e {
        ArchiveError::TooLarge { limit } => anyhow::anyhow!(
            "{}: its caches do not fit in the free space of {} (at most {limit} bytes may be \
             unpacked there): refused",
            input.display(),
            staging.parent().unwrap_or(staging).display()
        ),
        other => anyhow::Error::new(other).context(input.display().to_string()),
    })
}

/// The most bytes an import may unpack into `cache_dir`: the space free on its file system less
/// a reserve (a tenth, at most 1 GiB), so that an archive that inflates beyond what fits (a
/// decompression bomb, or simply too large) is refused before it fills the disk.
fn unpack_budget(cache_dir: &Path) -> Result<u64> {
    let stat = rustix::fs::statvfs(cache_dir)
        .with_context(|| format!("cannot read the free space of {}", cache_dir.display()))?;
    Ok(budget_of_free(stat.f_bavail.saturating_mul(stat.f_frsize)))
}

/// [`unpack_budget`] of `free` bytes.
fn budget_of_free(free: u64) -> u64 {
    const RESERVE_CAP: u64 = 1 << 30;
    free - (free / 10).min(RESERVE_CAP)
}

/// Where an exported cache goes: under the cache dir for a relative location; for a `file://`
/// endpoint cache, where the user's config puts that endpoint's cache. Never a path the archive
/// names.
fn destination(c: &ExportedCache, cache_dir: &Path, config: Option<&Dataset>) -> Result<PathBuf> {
    if !c.location.is_absolute() {
        return Ok(cache_dir.join(&c.location));
    }
    let (Some(uri), Some(agent)) = (&c.endpoint, c.agent) else {
        bail!(
            "the archive names {} without its endpoint: refused (an archive never chooses a \
             directory outside the cache dir)",
            c.location.display()
        );
    };
    let Some(dataset) = config else {
        bail!(
            "the archive holds the cache of the file:// endpoint {uri}: pass --config with the \
             config that uses it, to say where it goes"
        );
    };
    if !dataset.endpoints.iter().any(|e| e == uri) {
        bail!(
            "the archive holds the cache of {uri}, which the config does not use (its \
             endpoints: {})",
            dataset.endpoints.join(", ")
        );
    }
    Ok(namespace_cache_root(uri, cache_dir)?.join(cache_sai3::scheme::shard_dir(agent)))
}

/// The caches to install: (unpacked, destination) pairs, and the locks of the caches they
/// replace (held until they are moved aside, so no running process loses its cache).
#[derive(Default)]
struct Installs {
    pairs: Vec<(PathBuf, PathBuf)>,
    replaced_locks: Vec<DirectoryLock>,
}

/// Checks every unpacked cache (opens with this backend, nothing overwritten without `force`,
/// nothing replaced that another process holds) and returns what to install.
fn plan_installs<D: Database>(
    session: &Session,
    manifest: &ExportManifest,
    staging: &Path,
    target: &Target,
    force: bool,
) -> Result<Installs> {
    let config = target.config.as_deref().map(Dataset::load).transpose()?;
    let mut installs = Installs::default();
    for c in &manifest.caches {
        // Paths checked by `ExportManifest::parse`.
        let src = staging.join(&c.dir);
        let options = OpenOptions {
            create_if_missing: false,
            ..OpenOptions::default()
        };
        if let Err(e) = D::open(&src, &options) {
            bail!("cache {} in the archive is not usable: {e}", c.dir);
        }
        let dest = destination(c, &target.cache_dir, config.as_ref())?;
        if dest.exists() && !force {
            bail!(
                "{} already exists; pass --force to replace it (the old one is kept aside)",
                dest.display()
            );
        }
        if dest.exists() {
            let lock = open_waiting(session.open, || {
                Ok(DirectoryLock::acquire(&dest, D::BACKEND)?)
            })?;
            installs.replaced_locks.push(lock);
        }
        installs.pairs.push((src, dest));
    }
    Ok(installs)
}

/// What `import` installed.
#[derive(Debug, Default, Serialize)]
struct Imported {
    /// Caches installed.
    imported: Vec<PathBuf>,
    /// Caches that were there before, kept aside under these names.
    replaced: Vec<PathBuf>,
}

/// Installs each unpacked cache, keeping a cache already there aside.
fn install(installs: Installs) -> Result<Imported> {
    let stamp = cache_sai3::ttl::Clock::now(&cache_sai3::ttl::SystemClock);
    let mut done = Imported::default();
    for (src, dest) in installs.pairs {
        if dest.exists() {
            let name = dest
                .file_name()
                .context("a cache destination names no directory")?;
            let aside = dest.with_file_name(format!("{}.replaced-{stamp}", name.to_string_lossy()));
            fs::rename(&dest, &aside)?;
            done.replaced.push(aside);
        }
        move_dir(&src, &dest).with_context(|| format!("cannot install {}", dest.display()))?;
        done.imported.push(dest);
    }
    Ok(done)
}

pub fn import<D: Database>(
    session: &Session,
    input: &Path,
    target: &Target,
    force: bool,
    json: bool,
) -> Result<ExitCode> {
    let cache_dir = target.cache_dir.as_path();
    fs::create_dir_all(cache_dir)?;
    // Removed with everything in it on every exit path.
    let staging = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(cache_dir)
        .with_context(|| format!("cannot stage the import in {}", cache_dir.display()))?;
    let total = fs::metadata(input).map_or(0, |m| m.len());
    let limits = Limits {
        max_archive_bytes: unpack_budget(cache_dir)?,
    };
    let (read, reporter) = show_bytes(session, json, "importing", total);
    let unpacked = unpack(input, staging.path(), read, limits);
    drop(reporter);
    let manifest = unpacked?;
    if manifest.backend != D::BACKEND {
        bail!(
            "{} holds {} caches; import it with --backend {}",
            input.display(),
            manifest.backend,
            manifest.backend
        );
    }
    let installs = plan_installs::<D>(session, &manifest, staging.path(), target, force)
        .with_context(|| format!("cannot import {}", input.display()))?;
    let done = install(installs)?;
    if json {
        super::print_json(&done)?;
    } else {
        for p in &done.imported {
            outln!("imported {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_leaves_a_reserve_free() {
        assert_eq!(budget_of_free(0), 0);
        assert_eq!(budget_of_free(1000), 900);
        let tib = 1u64 << 40;
        assert_eq!(budget_of_free(tib), tib - (1 << 30));
    }

    #[test]
    fn an_archive_larger_than_the_budget_is_refused_naming_the_space() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = tmp.path().join("cache");
        fs::create_dir(&cache).expect("cache dir");
        fs::write(cache.join("data"), vec![7u8; 64 * 1024]).expect("data");
        let manifest = ExportManifest::new("fjall", vec![ExportedCache::in_cache_dir(0, "x")]);
        let output = tmp.path().join("a.tar.zst");
        archive::write(&output, &manifest, &[cache.as_path()], &AtomicU64::new(0)).expect("write");
        let staging = tmp.path().join("dir/.import-x");
        fs::create_dir_all(&staging).expect("staging");
        let small = Limits {
            max_archive_bytes: 10_000,
        };
        let err = unpack(&output, &staging, Arc::default(), small).expect_err("too large");
        let text = format!("{err:#}");
        assert!(text.contains("do not fit in the free space of"), "{text}");
        assert!(text.contains("10000 bytes"), "{text}");
        let fits = unpack(&output, &staging, Arc::default(), Limits::NONE).expect("fits");
        assert_eq!(fits, manifest);
    }
}
