//! The guest-side sources `durable build` needs, embedded in the binary so
//! that an installed `durable` builds Python and JavaScript apps without a
//! checkout of this repository: the WIT package, the Python SDK (the
//! `durable` package and the componentize-py entry module) and the
//! JavaScript SDK (its sources, the bundler script and `package.json`).
//!
//! The lists are made by the crate's build script, which walks those
//! directories: a new SDK file is embedded without being listed anywhere,
//! and the unit tests below compare every list with its directory. A build
//! writes a list to a temporary directory with [`write()`], keeping the paths
//! relative to the directory they come from.

use std::io;
use std::path::Path;

/// One embedded file: its path relative to its directory, and its text.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// Its path relative to the directory it comes from, e.g. `durable/__init__.py`.
    pub path: &'static str,
    /// Its contents.
    pub text: &'static str,
}

// `WIT` (`wit/`: the WIT package every component is built against),
// `PYTHON_SDK` (`guest-sdk/python/`: the `durable` package and the
// `durable_main` module componentize-py builds the component from) and
// `JS_SDK` (`guest-sdk/js/`: the `durable` ES module package, `package.json`
// and the script that bundles an app with it), listed by `build.rs`.
include!(concat!(env!("OUT_DIR"), "/guest_sources.rs"));

/// Writes `sources` under `dir`, creating the folders they need.
pub fn write(sources: &[Source], dir: &Path) -> io::Result<()> {
    for source in sources {
        let path = dir.join(source.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, source.text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// The files under `root/sub` (recursively, skipping caches), as paths
    /// relative to `root` with `/` separators.
    fn files(root: &Path, sub: &str, found: &mut BTreeSet<String>) {
        let dir = root.join(sub);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.expect("directory entry");
            let name = entry.file_name().into_string().expect("UTF-8 file name");
            let relative = if sub.is_empty() {
                name.clone()
            } else {
                format!("{sub}/{name}")
            };
            if entry.file_type().expect("file type").is_dir() {
                if name != "__pycache__" && name != "node_modules" && !name.starts_with('.') {
                    files(root, &relative, found);
                }
            } else if !name.ends_with(".pyc") && !name.starts_with('.') {
                found.insert(relative);
            }
        }
    }

    #[track_caller]
    fn assert_embeds_all(sources: &[Source], dir: &str, subdirs: &[&str], single: &[&str]) {
        let root = workspace().join(dir);
        let mut on_disk = BTreeSet::new();
        for sub in subdirs {
            files(&root, sub, &mut on_disk);
        }
        on_disk.extend(single.iter().map(|s| s.to_string()));
        let embedded: BTreeSet<String> = sources.iter().map(|s| s.path.to_owned()).collect();
        assert_eq!(
            embedded, on_disk,
            "the sources embedded for `durable build` (host/build.rs) must be exactly the \
             files in {dir}"
        );
    }

    #[test]
    fn the_wit_package_is_embedded_whole() {
        assert_embeds_all(WIT, "wit", &[""], &[]);
    }

    #[test]
    fn the_python_sdk_is_embedded_whole() {
        assert_embeds_all(
            PYTHON_SDK,
            "guest-sdk/python",
            &["durable", "componentize", "compat"],
            &[],
        );
    }

    #[test]
    fn the_js_sdk_is_embedded_whole() {
        assert_embeds_all(JS_SDK, "guest-sdk/js", &["src", "build"], &["package.json"]);
        assert!(JS_SDK.iter().any(|s| s.path == "build/bundle.mjs"));
    }

    #[test]
    fn write_recreates_the_layout() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(JS_SDK, dir.path()).expect("writing the sources");
        let index = std::fs::read_to_string(dir.path().join("src/index.js")).expect("index.js");
        assert_eq!(
            index,
            std::fs::read_to_string(workspace().join("guest-sdk/js/src/index.js")).unwrap()
        );
    }
}
