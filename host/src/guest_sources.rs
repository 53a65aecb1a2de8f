//! The guest-side sources `durable build` needs, embedded in the binary so
//! that an installed `durable` builds Python and JavaScript apps without a
//! checkout of this repository: the WIT packages (`durable:core`, and the
//! world the Python and JavaScript SDKs build against with the WASI packages
//! it imports: [`write_sdk_wit`]), the Python SDK (the
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

// `WIT` (`wit/`: the WIT package every component is built against, and in
// `wit/sdk/` the package of the world Python and JavaScript components are
// built against, with the WASI packages it imports), `WASI_CONFIG_WIT`
// (`guest-sdk/wasi-config/deps/`: `wasi:config`, shared with the Rust SDK),
// `PYTHON_SDK` (`guest-sdk/python/`: the `durable` package and the
// `durable_main` module componentize-py builds the component from) and
// `JS_SDK` (`guest-sdk/js/`: the `durable` ES module package, `package.json`
// and the script that bundles an app with it), listed by `build.rs`.
include!(concat!(env!("OUT_DIR"), "/guest_sources.rs"));

/// Writes `sources` under `dir`, creating the folders they need.
pub fn write(sources: &[Source], dir: &Path) -> io::Result<()> {
    for source in sources {
        write_file(&dir.join(source.path), source.text)?;
    }
    Ok(())
}

/// The world Python and JavaScript components are built against.
pub const SDK_WORLD: &str = "sdk-component";

/// Writes the package of [`SDK_WORLD`] (`wit/sdk/`: `durable:core`'s world plus `wasi:http`
/// and `wasi:config`) as a WIT directory at `dir`, with every package it uses under
/// `dir/deps/`: the WASI packages vendored in `wit/sdk/deps/`, `durable:core` (the other files
/// of `wit/`) in `deps/durable-core/` and `wasi:config` in `deps/config/`.
pub fn write_sdk_wit(dir: &Path) -> io::Result<()> {
    for source in WIT {
        let path = match source.path.strip_prefix("sdk/") {
            Some(sdk) => dir.join(sdk),
            None => dir.join("deps").join("durable-core").join(source.path),
        };
        write_file(&path, source.text)?;
    }
    write(WASI_CONFIG_WIT, &dir.join("deps"))
}

fn write_file(path: &Path, text: &str) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
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
    fn the_wasi_config_package_is_embedded_whole() {
        assert_embeds_all(
            WASI_CONFIG_WIT,
            "guest-sdk/wasi-config/deps",
            &["config"],
            &[],
        );
    }

    #[test]
    fn the_sdk_world_is_written_with_every_package_it_uses() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_sdk_wit(dir.path()).expect("writing the WIT");
        let world = std::fs::read_to_string(dir.path().join("world.wit")).expect("world.wit");
        assert!(world.contains(&format!("world {SDK_WORLD} {{")), "{world}");
        let deps = dir.path().join("deps");
        // Each package it names, by the folder holding it.
        for (package, file) in [
            ("durable:core@0.1.0", "durable-core/durable.wit"),
            ("wasi:http@0.2.12", "http/http.wit"),
            ("wasi:io@0.2.12", "io/io.wit"),
            ("wasi:config@0.2.0-rc.1", "config/world.wit"),
        ] {
            let text = std::fs::read_to_string(deps.join(file)).expect(file);
            assert!(text.contains(&format!("package {package};")), "{file}");
        }
        assert!(
            !dir.path().join("durable.wit").exists(),
            "durable:core is a dependency"
        );
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
