//! `durable build APP_DIR [-o OUT.wasm]`: one command from an app directory
//! to a component, in whichever language the directory holds.
//!
//! `app.py` is built by componentize-py, `app.js` is bundled with the SDK
//! by rolldown and built by componentize-js, a `Cargo.toml` is built by cargo
//! for `wasm32-wasip2`. The WIT package and the Python and JavaScript SDKs
//! come from the binary ([`durable_host::guest_sources`]) and are written to
//! a temporary directory for each build, so an installed `durable` needs no
//! checkout. componentize-py and componentize-js are installed once, at
//! pinned versions, into the tools directory ([`Tools`]); later builds are
//! offline.

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use durable_host::guest_sources::{self, Source};
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const COMPONENTIZE_PY: &str = "0.25.1";
const COMPONENTIZE_JS: &str = "0.23.0";
const ROLLDOWN: &str = "1.3.2";
const WORLD: &str = "durable-component";

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The app directory: it holds `app.py` (Python), `app.js`
    /// (JavaScript) or `Cargo.toml` (Rust).
    app_dir: PathBuf,
    /// The component to write [default: `<app dir name>.wasm` in the
    /// current directory].
    #[arg(short, long, value_name = "OUT.wasm")]
    out: Option<PathBuf>,
    /// Where componentize-py and componentize-js are installed when missing
    /// [default: `$XDG_CACHE_HOME/durable/tools` or `~/.cache/durable/tools`].
    #[arg(long, env = "DURABLE_TOOLS_DIR", value_name = "DIR")]
    tools_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Python,
    JavaScript,
    Rust,
}

impl Language {
    fn name(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::Rust => "Rust",
        }
    }

    /// The language of the app in `dir`, from the file that marks it.
    fn detect(dir: &Path) -> anyhow::Result<Language> {
        if !dir.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
        let markers = [
            ("app.py", Language::Python),
            ("app.js", Language::JavaScript),
            ("Cargo.toml", Language::Rust),
        ];
        let found: Vec<_> = markers
            .iter()
            .filter(|(file, _)| dir.join(file).is_file())
            .collect();
        match found.as_slice() {
            [(_, language)] => Ok(*language),
            [] => bail!(
                "{} holds no app: put `app.py` (Python), `app.js` (JavaScript) or a \
                 `Cargo.toml` (Rust) in it",
                dir.display()
            ),
            many => bail!(
                "{} holds {}: cannot tell which one to build; keep one app per directory",
                dir.display(),
                many.iter()
                    .map(|(file, _)| format!("`{file}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        }
    }
}

pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let language = Language::detect(&args.app_dir)?;
    let app_dir = args
        .app_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.app_dir.display()))?;
    let out = match args.out {
        Some(out) => out,
        None => {
            let name = app_dir
                .file_name()
                .with_context(|| format!("{} has no name; give -o", app_dir.display()))?;
            let mut file = name.to_os_string();
            file.push(".wasm");
            PathBuf::from(file)
        }
    };
    // Built into a staging file first, so that a failed build neither
    // leaves a partial component nor replaces the one at `out`.
    let staging = tempfile::Builder::new()
        .prefix("durable-build-out-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let built = staging.path().join("component.wasm");
    let tools = || Tools::new(args.tools_dir.clone());
    match language {
        Language::Python => build_python(&tools()?, &app_dir, &built)?,
        Language::JavaScript => build_js(&tools()?, &app_dir, &built)?,
        Language::Rust => build_rust(&app_dir, &built)?,
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let size =
        std::fs::copy(&built, &out).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "built {} ({}, {:.1} MB) in {:.1?}",
        out.display(),
        language.name(),
        size as f64 / 1e6,
        started.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

/// A fresh temporary directory holding `wit/` and an empty `work/` to run
/// the componentizer in, plus the SDK sources under `sdk/`.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(sdk: &[Source]) -> anyhow::Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("durable-build-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let scratch = Scratch { dir };
        guest_sources::write(guest_sources::WIT, &scratch.wit())
            .and_then(|()| guest_sources::write(sdk, &scratch.sdk()))
            .and_then(|()| std::fs::create_dir(scratch.work()))
            .context("cannot write the SDK sources to a temporary directory")?;
        Ok(scratch)
    }

    fn wit(&self) -> PathBuf {
        self.dir.path().join("wit")
    }

    fn sdk(&self) -> PathBuf {
        self.dir.path().join("sdk")
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
}

fn build_python(tools: &Tools, app_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let venv = tools.componentize_py()?;
    let scratch = Scratch::new(guest_sources::PYTHON_SDK)?;
    let sdk = scratch.sdk();
    // componentize-py imports the app at build time (and snapshots it): it
    // runs in an empty directory so only the paths given land in the
    // component.
    let mut cmd = Command::new(venv_bin(&venv).join("componentize-py"));
    // Its errors are the app's Python traceback; a Rust backtrace of
    // componentize-py itself would only bury it.
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .current_dir(scratch.work())
        .arg("-q")
        .arg("-d")
        .arg(scratch.wit())
        .args(["-w", WORLD, "componentize", "durable_main", "-p"])
        .arg(sdk.join("componentize"))
        .arg("-p")
        .arg(&sdk)
        .arg("-p")
        .arg(app_dir)
        .arg("-o")
        .arg(out);
    run_step(
        cmd,
        "componentize-py",
        &format!("{} does not build", app_dir.join("app.py").display()),
    )?;
    Ok(())
}

fn build_js(tools: &Tools, app_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let prefix = tools.componentize_js()?;
    let scratch = Scratch::new(guest_sources::JS_SDK)?;
    // componentize-js reads the WIT and the bundle through WASI, which only
    // sees the working directory: both go there.
    guest_sources::write(guest_sources::WIT, &scratch.work().join("wit"))
        .context("cannot write the WIT package to a temporary directory")?;
    let app = app_dir.join("app.js");
    let mut bundle = Command::new("node");
    bundle
        .arg(scratch.sdk().join("build").join("bundle.mjs"))
        .arg(&prefix)
        .arg(&app)
        .arg(scratch.work().join("app.bundle.js"));
    run_step(
        bundle,
        "node",
        &format!("{} does not bundle", app.display()),
    )?;
    // Orchestrators must not reach the network and the host does not link
    // wasi:http: leave out componentize-js' HTTP and fetch-event support.
    let mut cmd = Command::new(
        prefix
            .join("node_modules")
            .join(".bin")
            .join("componentize-js"),
    );
    cmd.current_dir(scratch.work())
        .args(["app.bundle.js", "--wit", "wit", "--world-name", WORLD])
        .args(["-d", "http", "fetch-event", "-o"])
        .arg(out);
    run_step(
        cmd,
        "componentize-js",
        &format!("{} does not build", app.display()),
    )?;
    Ok(())
}

fn build_rust(app_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let mut target = Command::new("rustup");
    target
        .current_dir(app_dir)
        .args(["target", "add", "wasm32-wasip2"]);
    match target.stdin(Stdio::null()).output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => bail!(
            "`rustup target add wasm32-wasip2` failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        ),
        // Without rustup the target may still be installed; cargo says if not.
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow!(e).context("cannot run rustup")),
    }
    let manifest = app_dir.join("Cargo.toml");
    let mut cmd = Command::new("cargo");
    cmd.current_dir(app_dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let output = cmd.output().map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            anyhow!("cargo was not found: building a Rust app needs Rust (rustup.rs)")
        }
        _ => anyhow!(e).context("cannot run cargo"),
    })?;
    if !output.status.success() {
        bail!(
            "{} does not build (cargo's errors are above)",
            manifest.display()
        );
    }
    let wasm = built_wasm(&String::from_utf8_lossy(&output.stdout), app_dir)?;
    std::fs::copy(&wasm, out)
        .with_context(|| format!("cannot copy {} to {}", wasm.display(), out.display()))?;
    Ok(())
}

/// The `.wasm` file cargo's JSON messages say the package in `app_dir`
/// produced.
fn built_wasm(messages: &str, app_dir: &Path) -> anyhow::Result<PathBuf> {
    let mut found = Vec::new();
    for line in messages.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let package_dir = message["manifest_path"]
            .as_str()
            .and_then(|manifest| Path::new(manifest).parent())
            .and_then(|dir| dir.canonicalize().ok());
        if package_dir.as_deref() != Some(app_dir) {
            continue;
        }
        let files = message["filenames"].as_array().into_iter().flatten();
        found.extend(
            files
                .filter_map(|file| file.as_str())
                .filter(|file| file.ends_with(".wasm"))
                .map(PathBuf::from),
        );
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "{} built no .wasm file: a component crate has `crate-type = [\"cdylib\"]`",
            app_dir.display()
        ),
        many => bail!(
            "{} built several .wasm files ({}); build the one you want with cargo",
            app_dir.display(),
            many.iter()
                .map(|file| file.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs one step of a build to the end; its output is shown only when it
/// fails, with `failure` saying what that means.
fn run_step(mut cmd: Command, program: &str, failure: &str) -> anyhow::Result<()> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                anyhow!("{program} was not found ({})", cmd.get_program().display())
            }
            _ => anyhow!(e).context(format!("cannot run {program}")),
        })?;
    if !output.status.success() {
        bail!(
            "{failure}; {program} says:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(())
}

/// The tools directory: componentize-py and componentize-js, each in a
/// folder named by its version, installed on first use.
struct Tools {
    dir: PathBuf,
}

impl Tools {
    fn new(dir: Option<PathBuf>) -> anyhow::Result<Tools> {
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
    fn componentize_py(&self) -> anyhow::Result<PathBuf> {
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
    fn componentize_js(&self) -> anyhow::Result<PathBuf> {
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
fn venv_bin(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts")
    } else {
        venv.join("bin")
    }
}
