//! The tools directory: componentize-py and componentize-js (with rolldown), installed at
//! pinned versions on first use, and the build cache beside them.

use super::{COMPONENTIZE_JS, COMPONENTIZE_PY, ROLLDOWN};
use anyhow::{Context as _, anyhow, bail};
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The tools directory: componentize-py and componentize-js, each in a
/// folder named by its version, installed on first use.
pub struct Tools {
    pub dir: PathBuf,
}

impl Tools {
    pub fn new(dir: Option<PathBuf>) -> anyhow::Result<Tools> {
        let dir = dir
            .or_else(|| {
                durable_host::host::default_compile_cache().map(|cache| cache.join("tools"))
            })
            .context(
                "no tools directory: set DURABLE_TOOLS_DIR (or HOME or XDG_CACHE_HOME), or \
                 give --tools-dir",
            )?;
        Ok(Tools {
            dir: std::path::absolute(&dir)
                .with_context(|| format!("cannot resolve {}", dir.display()))?,
        })
    }

    /// A Python venv holding componentize-py.
    pub fn componentize_py(&self) -> anyhow::Result<PathBuf> {
        let what = format!("componentize-py {COMPONENTIZE_PY}");
        self.ensure(
            &format!("componentize-py-{COMPONENTIZE_PY}"),
            &what,
            |venv| {
                let needs = format!(
                    "durable build needs Python 3 with venv and pip to install {what} (once)"
                );
                let mut cmd = Command::new("python3");
                cmd.args(["-m", "venv"]).arg(venv);
                install_step(
                    cmd,
                    "python3",
                    &needs,
                    "`python3 -m venv` failed (on Debian or Ubuntu, install python3-venv)",
                )?;
                let mut cmd = Command::new(venv_bin(venv).join("python"));
                cmd.args(["-m", "pip", "install", "--quiet"])
                    .arg(format!("componentize-py=={COMPONENTIZE_PY}"));
                install_step(
                    cmd,
                    "pip",
                    &needs,
                    &format!("pip could not install {what} (is PyPI reachable?)"),
                )
            },
        )
    }

    /// An npm prefix whose `node_modules` holds componentize-js and rolldown.
    pub fn componentize_js(&self) -> anyhow::Result<PathBuf> {
        let what = format!("componentize-js {COMPONENTIZE_JS} and rolldown {ROLLDOWN}");
        self.ensure(
            &format!("componentize-js-{COMPONENTIZE_JS}"),
            &what,
            |prefix| {
                std::fs::create_dir_all(prefix)
                    .and_then(|()| {
                        std::fs::write(prefix.join("package.json"), "{\"private\": true}\n")
                    })
                    .with_context(|| format!("cannot create {}", prefix.display()))?;
                let mut cmd = Command::new("npm");
                cmd.current_dir(prefix)
                    .args([
                        "install",
                        "--silent",
                        "--no-audit",
                        "--no-fund",
                        "--save-exact",
                    ])
                    .arg(format!(
                        "@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"
                    ))
                    .arg(format!("rolldown@{ROLLDOWN}"));
                install_step(
                    cmd,
                    "npm",
                    &format!(
                        "durable build needs Node.js 20 or newer with npm to install {what} (once)"
                    ),
                    &format!("npm could not install {what} (is the npm registry reachable?)"),
                )
            },
        )
    }

    /// `<tools>/<name>`, installed by `install` unless a finished install is
    /// there. A lock file keeps concurrent builds from installing at once; a
    /// marker written last tells a finished install from an interrupted one.
    fn ensure(
        &self,
        name: &str,
        what: &str,
        install: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<PathBuf> {
        let dir = self.dir.join(name);
        let marker = dir.join(".durable-installed");
        if marker.is_file() {
            return Ok(dir);
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create the tools directory {}", self.dir.display()))?;
        let lock_path = self.dir.join(format!("{name}.lock"));
        let lock = File::create(&lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
        if marker.is_file() {
            // Another build installed it while this one waited.
            return Ok(dir);
        }
        eprintln!("installing {what} into {} (once)", dir.display());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove the unfinished {}", dir.display()))?;
        }
        install(&dir)?;
        File::create(&marker).with_context(|| format!("cannot create {}", marker.display()))?;
        Ok(dir)
    }
}

/// Runs one install step: a missing program is named with what it is
/// needed for, a failure is shown with the program's output.
fn install_step(mut cmd: Command, program: &str, needs: &str, failure: &str) -> anyhow::Result<()> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => anyhow!("{program} was not found: {needs}"),
            _ => anyhow!(e).context(format!("cannot run {program}")),
        })?;
    if !output.status.success() {
        bail!(
            "{failure}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(())
}

/// A venv's folder of executables.
pub fn venv_bin(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts")
    } else {
        venv.join("bin")
    }
}
