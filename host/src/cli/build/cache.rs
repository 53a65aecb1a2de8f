//! The build cache: Python and JavaScript components by a hash of everything that went into
//! them (the app directory's files, the embedded SDK and WIT, the pinned toolchain versions
//! and this build of `durable`). componentize-py and componentize-js do not produce the same
//! bytes twice, so without it every rebuild of unchanged sources would be a new component
//! with a new digest, compiled again by every host. Rust apps are not cached here: cargo
//! already rebuilds only what changed, and reproducibly.

use super::Language;
use anyhow::Context as _;
use durable_host::guest_sources::Source;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Cached components kept; the least recently used beyond this are removed.
const KEEP: usize = 64;

/// `<tools dir>/builds`: one `<key>.wasm` per cached build.
pub struct BuildCache {
    dir: PathBuf,
}

impl BuildCache {
    pub fn new(tools_dir: &Path) -> BuildCache {
        BuildCache {
            dir: tools_dir.join("builds"),
        }
    }

    /// The key of a build: a hash over the language, `toolchain` (the pinned versions),
    /// `sdk` (the embedded SDK and WIT sources) and every file of `app_dir`.
    pub fn key(
        language: Language,
        toolchain: &str,
        sdk: &[&'static [Source]],
        app_dir: &Path,
    ) -> anyhow::Result<String> {
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(b"durable build cache 1");
        field(env!("CARGO_PKG_VERSION").as_bytes());
        field(language.name().as_bytes());
        field(toolchain.as_bytes());
        for source in sdk.iter().flat_map(|list| list.iter()) {
            field(source.path.as_bytes());
            field(source.text.as_bytes());
        }
        let mut files = Vec::new();
        app_files(app_dir, app_dir, &mut files)?;
        files.sort();
        for relative in files {
            let path = app_dir.join(&relative);
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            field(relative.as_bytes());
            field(&bytes);
        }
        Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The cached component for `key`, if there is one (and marks it used).
    pub fn get(&self, key: &str) -> Option<PathBuf> {
        let path = self.path(key);
        let file = std::fs::File::options().append(true).open(&path).ok()?;
        // The modification time orders entries for pruning.
        let _ = file.set_modified(SystemTime::now());
        Some(path)
    }

    /// Keeps a copy of `built` as the component for `key`, then prunes old entries. A cache
    /// that cannot be written only costs the next build its speed.
    pub fn put(&self, key: &str, built: &Path) {
        let stored = std::fs::create_dir_all(&self.dir).and_then(|()| {
            let staging = self.dir.join(format!("{key}.tmp{}", std::process::id()));
            std::fs::copy(built, &staging)?;
            std::fs::rename(&staging, self.path(key))
        });
        match stored {
            Ok(()) => self.prune(),
            Err(e) => eprintln!("warning: cannot keep the component in the build cache: {e}"),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.wasm"))
    }

    /// Removes the least recently used entries beyond [`KEEP`].
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut cached: Vec<(SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        cached.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
        for (_, old) in cached.into_iter().skip(KEEP) {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// The files of an app directory that can change what it builds into, as `/`-separated
/// paths relative to `root`: everything but hidden files, caches (`__pycache__`, `.pyc`),
/// `node_modules` (its `package.json` and lock file are hashed instead) and built `.wasm`
/// files (a component written into the app directory).
fn app_files(root: &Path, dir: &Path, found: &mut Vec<String>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') || name == "__pycache__" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            app_files(root, &path, found)?;
        } else if !name.ends_with(".pyc") && !name.ends_with(".wasm") {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let parts: Vec<_> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            found.push(parts.join("/"));
        }
    }
    Ok(())
}
