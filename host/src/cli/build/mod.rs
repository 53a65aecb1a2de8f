//! `durable build APP_DIR [-o OUT.wasm]`: one command from an app directory
//! to a component, in whichever language the directory holds.
//!
//! `app.py` is built by componentize-py, `app.js` is bundled with the SDK
//! by rolldown and built by componentize-js, a `Cargo.toml` is built by cargo
//! for `wasm32-wasip2`. Durable Functions projects build unchanged: Python's
//! `function_app.py` (programming model v2), JavaScript's `package.json` `main`
//! files (v4), and function folders with a `function.json` each (Python v1,
//! JavaScript v3: [`folders`]). Python and JavaScript components are built against the world
//! `sdk-component` (`wit/sdk/`: the durable component plus `wasi:http` and `wasi:config`
//! for activities). The WIT packages and the Python and JavaScript SDKs
//! come from the binary ([`durable_host::guest_sources`]) and are written to
//! a temporary directory for each build, so an installed `durable` needs no
//! checkout. componentize-py and componentize-js are installed once, at
//! pinned versions, into the tools directory ([`tools`]); later builds are
//! offline. Python and JavaScript components are kept in a build cache keyed by a hash of
//! their sources, the SDK and the toolchain ([`cache`]), so building unchanged sources again
//! gives the same component (the same digest) at once.

mod cache;
mod folders;
mod tools;

use cache::BuildCache;
use tools::{Tools, venv_bin};

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use durable_host::guest_sources::{self, Source};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const COMPONENTIZE_PY: &str = "0.25.1";
const COMPONENTIZE_JS: &str = "0.23.0";
const ROLLDOWN: &str = "1.3.2";
const WORLD: &str = guest_sources::SDK_WORLD;
/// componentize-py names an imported interface's module after it, qualified when two
/// interfaces share a name: `durable:core` and `wasi:http` both have a `types`, so both are
/// named, `wit_world.imports.types` staying durable's (`guest-sdk/python/durable/_component.py`,
/// `http.py`).
const PYTHON_INTERFACE_NAMES: &[&str] = &[
    "durable:core/types@0.1.0=types",
    "wasi:http/types@0.2.12=http_types",
];

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The app directory: it holds `app.py` (Python), `app.js`
    /// (JavaScript) or `Cargo.toml` (Rust), or a Durable Functions project
    /// (`function_app.py`, `package.json`, or function folders with a
    /// `function.json` each).
    app_dir: PathBuf,
    /// The component to write (default: `<app dir name>.wasm` in the
    /// current directory).
    #[arg(short, long, value_name = "OUT.wasm")]
    out: Option<PathBuf>,
    /// Where componentize-py and componentize-js are installed when missing, and where
    /// the build cache lives (`builds/`) (default: `$XDG_CACHE_HOME/durable/tools` or
    /// `~/.cache/durable/tools`).
    #[arg(long, env = "DURABLE_TOOLS_DIR", value_name = "DIR")]
    tools_dir: Option<PathBuf>,
    /// Build a Python or JavaScript app even when the build cache holds a component built
    /// from the same sources, SDK and toolchain.
    #[arg(long)]
    no_cache: bool,
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

    /// The pinned toolchain that builds it, as part of the build cache's key.
    fn toolchain(self) -> String {
        match self {
            Language::Python => format!(
                "componentize-py {COMPONENTIZE_PY} for {WORLD}, naming {}",
                PYTHON_INTERFACE_NAMES.join(" ")
            ),
            Language::JavaScript => format!(
                "componentize-js {COMPONENTIZE_JS} with fetch for {WORLD}, rolldown {ROLLDOWN}"
            ),
            Language::Rust => "cargo".into(),
        }
    }

    /// The embedded sources a build of it uses: the WIT packages and the language's SDK.
    fn sdk(self) -> [&'static [Source]; 3] {
        let wit = [guest_sources::WIT, guest_sources::WASI_CONFIG_WIT];
        match self {
            Language::Python => [wit[0], wit[1], guest_sources::PYTHON_SDK],
            Language::JavaScript => [wit[0], wit[1], guest_sources::JS_SDK],
            Language::Rust => [wit[0], wit[1], &[]],
        }
    }

    /// The language of the app in `dir`, from the file that marks it, and the function folders
    /// when it is a Durable Functions project made of them (Python v1, JavaScript v3).
    fn detect(dir: &Path) -> anyhow::Result<(Language, Vec<folders::FunctionFolder>)> {
        if !dir.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
        let markers = [
            ("app.py", Language::Python),
            ("app.js", Language::JavaScript),
            ("Cargo.toml", Language::Rust),
        ];
        let mut found: Vec<_> = markers
            .iter()
            .filter(|(file, _)| dir.join(file).is_file())
            .collect();
        // A Durable Functions Python project's module is `function_app.py`.
        const DF_PYTHON: (&str, Language) = ("function_app.py", Language::Python);
        if dir.join(DF_PYTHON.0).is_file() && !found.iter().any(|(_, l)| *l == Language::Python) {
            found.push(&DF_PYTHON);
        }
        // A Durable Functions project in the older programming models is function folders,
        // each with a `function.json`: `__init__.py`s (Python v1) or `index.js`s (JavaScript
        // v3, beside a `package.json` without the v4 `main` files).
        if found.is_empty() {
            let folders = folders::function_folders(dir)?;
            if let Some(language) = folders::language(dir, &folders)? {
                return Ok((language, folders));
            }
        }
        // A Durable Functions JavaScript project has no `app.js`: its `package.json` names the
        // files (`"main": "src/functions/*.js"`).
        const DF_JS: (&str, Language) = ("package.json", Language::JavaScript);
        if found.is_empty() && dir.join(DF_JS.0).is_file() {
            found.push(&DF_JS);
        }
        match found.as_slice() {
            [(_, language)] => Ok((*language, Vec::new())),
            [] => bail!(
                "{} holds no app: put `app.py` (Python, or a Durable Functions project's \
                 `function_app.py` or function folders), `app.js` (JavaScript, or a Durable \
                 Functions project's `package.json` or function folders) or a `Cargo.toml` \
                 (Rust) in it",
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
    let (language, function_folders) = Language::detect(&args.app_dir)?;
    // A project of function folders: what is left out of the component, and why.
    for note in function_folders
        .iter()
        .filter_map(folders::FunctionFolder::left_out_because)
    {
        eprintln!("note: {note}");
    }
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
    let mut from_cache = false;
    let component = match language {
        Language::Rust => {
            build_rust(&app_dir, &built)?;
            built
        }
        Language::Python | Language::JavaScript => {
            let tools = Tools::new(args.tools_dir.clone())?;
            let cache = BuildCache::new(&tools.dir);
            let key = BuildCache::key(language, &language.toolchain(), &language.sdk(), &app_dir)?;
            match cache.get(&key).filter(|_| !args.no_cache) {
                Some(cached) => {
                    from_cache = true;
                    cached
                }
                None => {
                    match language {
                        Language::Python => build_python(&tools, &app_dir, &built)?,
                        _ => build_js(&tools, &app_dir, &built)?,
                    }
                    cache.put(&key, &built);
                    built
                }
            }
        }
    };
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let size = std::fs::copy(&component, &out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "built {} ({}, {:.1} MB) in {:.1?}{}",
        out.display(),
        language.name(),
        size as f64 / 1e6,
        started.elapsed(),
        match from_cache {
            true => " (sources unchanged: from the build cache)",
            false => "",
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// A fresh temporary directory holding `wit/` (the world [`WORLD`] and the packages it uses)
/// and an empty `work/` to run the componentizer in, plus the SDK sources under `sdk/`.
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
        guest_sources::write_sdk_wit(&scratch.wit())
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
        .args(["-w", WORLD]);
    for name in PYTHON_INTERFACE_NAMES {
        cmd.args(["--import-interface-name", name]);
    }
    cmd.args(["componentize", "durable_main", "-p"])
        .arg(sdk.join("componentize"))
        .arg("-p")
        .arg(&sdk)
        // `azure.durable_functions` and `azure.functions` for Durable Functions apps.
        .arg("-p")
        .arg(sdk.join("compat"))
        .arg("-p")
        .arg(app_dir)
        .arg("-o")
        .arg(out);
    let module = match (app_dir.join("app.py"), app_dir.join("function_app.py")) {
        (app, _) if app.is_file() => app,
        (_, function_app) if function_app.is_file() => function_app,
        // Function folders (programming model v1).
        _ => app_dir.to_path_buf(),
    };
    run_step(
        cmd,
        "componentize-py",
        &format!("{} does not build", module.display()),
    )?;
    Ok(())
}

fn build_js(tools: &Tools, app_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let prefix = tools.componentize_js()?;
    let scratch = Scratch::new(guest_sources::JS_SDK)?;
    // componentize-js reads the WIT and the bundle through WASI, which only
    // sees the working directory: both go there.
    guest_sources::write_sdk_wit(&scratch.work().join("wit"))
        .context("cannot write the WIT package to a temporary directory")?;
    // `app.js`, or a Durable Functions project: function folders (programming model v3) or the
    // files `package.json`'s `main` names (v4).
    let app = match app_dir.join("app.js") {
        app if app.is_file() => app,
        _ if !folders::function_folders(app_dir)?.is_empty() => app_dir.to_path_buf(),
        _ => app_dir.join("package.json"),
    };
    let mut bundle = Command::new("node");
    bundle
        .arg(scratch.sdk().join("build").join("bundle.mjs"))
        .arg(&prefix)
        .arg(app_dir)
        .arg(scratch.work().join("app.bundle.js"));
    run_step(
        bundle,
        "node",
        &format!("{} does not bundle", app.display()),
    )?;
    // `fetch` goes out through wasi:http, and the SDK's `config` reads wasi:config (activities
    // only: orchestrators' sandbox traps both); a component serves no incoming requests: leave
    // out fetch-event.
    let mut cmd = Command::new(
        prefix
            .join("node_modules")
            .join(".bin")
            .join("componentize-js"),
    );
    cmd.current_dir(scratch.work())
        .args(["app.bundle.js", "--wit", "wit", "--world-name", WORLD])
        .args(["-d", "fetch-event", "-o"])
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
