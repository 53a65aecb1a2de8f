//! What the operator grants activities, for every app and per app.
//!
//! Orchestrators and entities get nothing (their sandbox, [`crate::wasm::sandbox`]);
//! activities get what is granted ([`ActivityCapabilities`]): directories, environment
//! variables, outbound HTTP and sockets to the hosts of an allow-list
//! ([`crate::outbound::AllowList`]), configuration values and secrets (`wasi:config`), extra
//! root certificates. A deployment may belong to an app (`durable deploy --app NAME`): its
//! activities, and the `call_http` requests of its orchestrators, get what every app gets
//! (the command line's flags, and `[apps."*"]` in the grants file) plus what the file's
//! `[apps.NAME]` section grants that app. The grants file (`durable serve --grants FILE`) is
//! TOML:
//!
//! ```toml
//! [apps."*"]                      # every app
//! allow_http = ["status.internal"]
//!
//! [apps.billing]                  # deployments made with --app billing
//! allow_http = ["api.stripe.com", "*.billing.internal:8443"]
//! allow_network = false           # TCP/UDP sockets, to the allowed hosts only
//! dirs = { "/srv/invoices" = "/invoices" }   # host path = guest path
//! env = { REGION = "eu-west-1" }
//! config = { api_base = "https://api.stripe.com", api_key = { env = "STRIPE_KEY" } }
//! ca_certs = ["/etc/billing/ca.pem"]
//! ```
//!
//! A config value is a string, `{ env = "VAR" }` (the host's environment variable, read when
//! the file is) or `{ file = "PATH" }` (the file's text, without a final newline). Values are
//! held in memory only: never written to history, logs or the dashboard.

use crate::builtin_http::HttpActivity;
use crate::outbound::{AllowList, MAX_RESPONSE_BODY, OutboundHttp};
use anyhow::Context as _;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_config::WasiConfigVariables;

/// What activities may touch. Orchestrators get none of it.
#[derive(Debug, Clone, Default)]
pub struct ActivityCapabilities {
    /// Environment variables visible to activities.
    pub env: Vec<(String, String)>,
    /// Host directories mapped into activities: (host path, guest path).
    pub dirs: Vec<(PathBuf, String)>,
    /// Allow TCP/UDP sockets and name lookups; connections only to the hosts of `http_hosts`.
    pub network: bool,
    /// Pass activity stdout/stderr through to the host's.
    pub inherit_stdio: bool,
    /// Hosts activities may reach: over HTTP through `wasi:http` and `call_http`, and with
    /// sockets when `network` is granted ([`crate::outbound::AllowList`]).
    pub http_hosts: Vec<String>,
    /// What activities read through `wasi:config/store`.
    pub config: ActivityConfig,
    /// Root certificates (PEM) activities' HTTPS requests trust besides the system's.
    pub ca_certs: Vec<Vec<u8>>,
}

impl ActivityCapabilities {
    /// These grants and `more`'s: lists joined, `more`'s environment and config values
    /// winning over these of the same key, network and stdio if either grants them.
    pub fn and(&self, more: &ActivityCapabilities) -> ActivityCapabilities {
        let joined = |a: &[(String, String)], b: &[(String, String)]| {
            let merged: BTreeMap<String, String> = a.iter().chain(b).cloned().collect();
            merged.into_iter().collect()
        };
        ActivityCapabilities {
            env: joined(&self.env, &more.env),
            dirs: [&self.dirs[..], &more.dirs[..]].concat(),
            network: self.network || more.network,
            inherit_stdio: self.inherit_stdio || more.inherit_stdio,
            http_hosts: [&self.http_hosts[..], &more.http_hosts[..]].concat(),
            config: ActivityConfig::new(
                (self.config.pairs.iter())
                    .chain(more.config.pairs.iter())
                    .map(|(k, v)| (k.clone(), v.clone())),
            ),
            ca_certs: [&self.ca_certs[..], &more.ca_certs[..]].concat(),
        }
    }
}

/// Configuration and secrets activities read through `wasi:config/store` (`--config`): held in
/// memory only, never written to history, logs or the dashboard. `Debug` shows the keys alone.
#[derive(Clone, Default)]
pub struct ActivityConfig {
    pairs: Arc<BTreeMap<String, String>>,
    pub(crate) variables: Arc<WasiConfigVariables>,
}

impl ActivityConfig {
    /// The values `pairs` (key, value) give; a later pair of the same key wins.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let pairs: BTreeMap<String, String> = pairs.into_iter().collect();
        let variables = Arc::new(pairs.clone().into_iter().collect());
        ActivityConfig {
            pairs: Arc::new(pairs),
            variables,
        }
    }
}

impl std::fmt::Debug for ActivityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityConfig")
            .field("keys", &self.pairs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Whether `name` can name an app: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn check_app_name(name: &str) -> Result<(), String> {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 64 || !name.chars().all(fits) {
        return Err(format!(
            "`{name}` is not an app name: use 1 to 64 ASCII letters, digits, `-`, `_` or `.`"
        ));
    }
    Ok(())
}

/// A grants file: `[apps."*"]` for every app, `[apps.NAME]` for one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantsFile {
    #[serde(default)]
    apps: BTreeMap<String, Section>,
}

/// One section of a grants file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    allow_http: Vec<String>,
    #[serde(default)]
    allow_network: bool,
    #[serde(default)]
    dirs: BTreeMap<PathBuf, String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    config: BTreeMap<String, ConfigValue>,
    #[serde(default)]
    ca_certs: Vec<PathBuf>,
}

/// A config value: the value itself, or where to read it.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum ConfigValue {
    Value(String),
    Env { env: String },
    File { file: PathBuf },
}

/// The grants a file gives: for every app, and for each app it names.
#[derive(Debug, Clone, Default)]
pub struct FileGrants {
    /// `[apps."*"]`.
    pub every_app: ActivityCapabilities,
    /// `[apps.NAME]`, by name.
    pub apps: BTreeMap<String, ActivityCapabilities>,
}

impl FileGrants {
    /// Reads the grants file `path`. Relative paths in it (directories, CA certificates,
    /// config files) are relative to the file's directory. Errors name the file and what is
    /// wrong.
    pub fn read(path: &Path) -> anyhow::Result<FileGrants> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the grants file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, &|var| std::env::var(var).ok())
            .with_context(|| format!("grants file {}", path.display()))
    }

    /// Parses a grants file's `text`, resolving relative paths against `base` and `{ env }`
    /// values with `env`.
    fn parse(
        text: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<FileGrants> {
        let file: GrantsFile = toml::from_str(text)?;
        let mut grants = FileGrants::default();
        for (name, section) in file.apps {
            let capabilities = section
                .capabilities(base, env)
                .with_context(|| format!("[apps.{name}]"))?;
            if name == "*" {
                grants.every_app = capabilities;
            } else {
                check_app_name(&name).map_err(anyhow::Error::msg)?;
                grants.apps.insert(name, capabilities);
            }
        }
        Ok(grants)
    }
}

impl Section {
    fn capabilities(
        self,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<ActivityCapabilities> {
        let mut config = Vec::new();
        for (key, value) in self.config {
            let value = match value {
                ConfigValue::Value(value) => value,
                ConfigValue::Env { env: var } => env(&var).with_context(|| {
                    format!("config `{key}`: the environment variable {var} is not set")
                })?,
                ConfigValue::File { file } => {
                    let path = base.join(file);
                    let text = std::fs::read_to_string(&path).with_context(|| {
                        format!("config `{key}`: cannot read {}", path.display())
                    })?;
                    text.strip_suffix('\n').unwrap_or(&text).to_owned()
                }
            };
            config.push((key, value));
        }
        let mut ca_certs = Vec::new();
        for file in self.ca_certs {
            let path = base.join(file);
            let pem = std::fs::read(&path)
                .with_context(|| format!("cannot read CA certificate {}", path.display()))?;
            crate::outbound::certificates(&pem).with_context(|| path.display().to_string())?;
            ca_certs.push(pem);
        }
        Ok(ActivityCapabilities {
            env: self.env.into_iter().collect(),
            dirs: (self.dirs.into_iter())
                .map(|(host, guest)| (base.join(host), guest))
                .collect(),
            network: self.allow_network,
            inherit_stdio: false,
            http_hosts: self.allow_http,
            config: ActivityConfig::new(config),
            ca_certs,
        })
    }
}

/// What one app's activities run with: the capabilities, and the HTTP clients they send
/// through (built once, shared by every run).
pub struct AppGrants {
    /// What its activities may touch.
    pub capabilities: ActivityCapabilities,
    /// The policy and client of its activities' `wasi:http` requests.
    pub outbound: OutboundHttp,
    /// Its orchestrators' `call_http` requests.
    pub http: HttpActivity,
}

impl AppGrants {
    fn new(capabilities: ActivityCapabilities, timeout: Duration) -> anyhow::Result<Self> {
        if capabilities.network && capabilities.http_hosts.is_empty() {
            anyhow::bail!(
                "network access is granted but no host is allowed: name the hosts sockets may \
                 reach with --allow-http (or `allow_http` in the grants file; `*` for every \
                 address)"
            );
        }
        let allowed = AllowList::new(capabilities.http_hosts.clone());
        Ok(AppGrants {
            outbound: OutboundHttp::new(
                allowed.clone(),
                &capabilities.ca_certs,
                MAX_RESPONSE_BODY,
            )?,
            http: HttpActivity::new(allowed, &capabilities.ca_certs, timeout)?,
            capabilities,
        })
    }
}

/// The grants the engine applies, by app: what every app gets, and for each app the file
/// names, that plus its own.
pub struct GrantTable {
    every_app: Arc<AppGrants>,
    apps: HashMap<String, Arc<AppGrants>>,
}

impl GrantTable {
    /// `every_app` for every deployment, and for those of each app in `apps` that plus its
    /// grants; `call_http` requests time out after `timeout`.
    pub fn new(
        every_app: &ActivityCapabilities,
        apps: &BTreeMap<String, ActivityCapabilities>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut table = GrantTable {
            every_app: Arc::new(AppGrants::new(every_app.clone(), timeout)?),
            apps: HashMap::new(),
        };
        for (name, own) in apps {
            let grants = AppGrants::new(every_app.and(own), timeout)
                .with_context(|| format!("the grants of app `{name}`"))?;
            table.apps.insert(name.clone(), Arc::new(grants));
        }
        Ok(table)
    }

    /// What the activities of a deployment of `app` run with.
    pub fn for_app(&self, app: Option<&str>) -> &Arc<AppGrants> {
        app.and_then(|app| self.apps.get(app))
            .unwrap_or(&self.every_app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<FileGrants> {
        let env = |var: &str| (var == "STRIPE_KEY").then(|| "sk_test".to_owned());
        FileGrants::parse(text, Path::new("/etc/durable"), &env)
    }

    #[test]
    fn a_grants_file_gives_every_app_and_each_named_app_its_own() {
        let grants = parse(
            r#"
            [apps."*"]
            allow_http = ["status.internal"]
            config = { region = "eu" }

            [apps.billing]
            allow_http = ["api.stripe.com"]
            allow_network = true
            dirs = { "invoices" = "/invoices" }
            env = { MODE = "live" }
            config = { api_key = { env = "STRIPE_KEY" }, region = "us" }
            "#,
        )
        .unwrap();
        assert_eq!(grants.every_app.http_hosts, ["status.internal"]);
        let billing = grants.every_app.and(&grants.apps["billing"]);
        assert_eq!(billing.http_hosts, ["status.internal", "api.stripe.com"]);
        assert!(billing.network && !grants.every_app.network);
        assert_eq!(
            billing.dirs,
            [(
                PathBuf::from("/etc/durable/invoices"),
                "/invoices".to_owned()
            )]
        );
        assert_eq!(billing.env, [("MODE".to_owned(), "live".to_owned())]);
        let config: Vec<_> = billing.config.pairs.iter().collect();
        assert_eq!(
            format!("{config:?}"),
            r#"[("api_key", "sk_test"), ("region", "us")]"#,
            "the app's value wins over every app's"
        );
        assert!(
            !format!("{billing:?}").contains("sk_test"),
            "Debug shows config keys only"
        );
    }

    #[test]
    fn a_bad_grants_file_says_what_is_wrong() {
        let err = |text: &str| format!("{:#}", parse(text).unwrap_err());
        assert!(err("[apps.billing]\nallow_htp = []").contains("unknown field `allow_htp`"));
        assert!(
            err("[apps.billing]\nconfig = { k = { env = \"UNSET\" } }")
                .contains("config `k`: the environment variable UNSET is not set")
        );
        assert!(err("[apps.\"bad name\"]").contains("`bad name` is not an app name"));
        assert!(err("[apps.b]\nca_certs = [\"missing.pem\"]").contains("missing.pem"));
        assert!(err("[app.billing]").contains("unknown field `app`"));
    }

    #[test]
    fn an_app_without_a_section_gets_what_every_app_gets() {
        let every = ActivityCapabilities {
            http_hosts: vec!["a".into()],
            ..Default::default()
        };
        let own = ActivityCapabilities {
            http_hosts: vec!["b".into()],
            ..Default::default()
        };
        let apps = BTreeMap::from([("billing".to_owned(), own)]);
        let table = GrantTable::new(&every, &apps, Duration::from_secs(1)).unwrap();
        let hosts = |app| table.for_app(app).capabilities.http_hosts.clone();
        assert_eq!(hosts(Some("billing")), ["a", "b"]);
        assert_eq!(hosts(Some("other")), ["a"]);
        assert_eq!(hosts(None), ["a"]);
    }

    /// The example the README's tour runs reads as it says.
    #[test]
    fn the_check_sites_example_grants_read() {
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/check-sites/grants.toml");
        let grants = FileGrants::read(&file).unwrap();
        let checker = &grants.apps["checker"];
        assert_eq!(checker.http_hosts, ["example.com", "*.example.org"]);
        assert!(grants.every_app.http_hosts.is_empty());
    }

    #[test]
    fn app_names_are_checked() {
        assert!(check_app_name("check_sites-2.0").is_ok());
        for bad in ["", "a b", "x/y", "é", &"a".repeat(65)] {
            assert!(check_app_name(bad).is_err(), "{bad:?}");
        }
    }
}
