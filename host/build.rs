//! Lists the guest-side sources `durable build` embeds (see
//! `src/guest_sources.rs`): every file of the WIT packages (with the
//! WASI packages the SDKs' world imports) and of the Python and JavaScript SDKs, found by walking their directories, so a new SDK
//! file is embedded without anyone having to remember it. Cargo reruns this
//! when a file in those directories is added, removed or changed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// (constant, directory under the workspace root, what to take from it).
const LISTS: &[(&str, &str, &[&str])] = &[
    ("WIT", "wit", &[""]),
    ("WASI_CONFIG_WIT", "guest-sdk/wasi-config/deps", &["config"]),
    (
        "PYTHON_SDK",
        "guest-sdk/python",
        &["durable", "componentize", "compat"],
    ),
    ("JS_SDK", "guest-sdk/js", &["src", "build", "package.json"]),
];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest.parent().expect("host/ lives in the workspace");
    let mut code = String::new();
    for (name, dir, parts) in LISTS {
        let root = workspace.join(dir);
        let mut files = Vec::new();
        for part in *parts {
            let path = root.join(part);
            println!("cargo::rerun-if-changed={}", path.display());
            collect(&root, &path, &mut files);
        }
        files.sort();
        assert!(!files.is_empty(), "no sources in {}", root.display());
        writeln!(code, "/// The files of `{dir}/` ({}).", parts.join(", ")).unwrap();
        writeln!(code, "pub const {name}: &[Source] = &[").unwrap();
        for relative in files {
            let absolute = root.join(&relative);
            writeln!(
                code,
                "    Source {{ path: {:?}, text: include_str!({:?}) }},",
                relative,
                absolute.display().to_string()
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("guest_sources.rs"), code).expect("writing guest_sources.rs");
}

/// Adds the files at `path` (a file, or a directory walked recursively) as
/// `/`-separated paths relative to `root`, leaving out caches and hidden
/// files.
fn collect(root: &Path, path: &Path, files: &mut Vec<String>) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with('.') || name == "__pycache__" || name == "node_modules" {
        return;
    }
    if path.is_dir() {
        let entries =
            std::fs::read_dir(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        for entry in entries {
            collect(root, &entry.expect("directory entry").path(), files);
        }
    } else if !name.ends_with(".pyc") {
        let relative = path.strip_prefix(root).expect("under root");
        let parts: Vec<_> = relative
            .components()
            .map(|c| c.as_os_str().to_str().expect("UTF-8 file name"))
            .collect();
        files.push(parts.join("/"));
    }
}
