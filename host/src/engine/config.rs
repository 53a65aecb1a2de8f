//! The engine's settings.

use crate::grants::ActivityCapabilities;
use crate::types::DEFAULT_MAX_PAYLOAD;
use crate::wasm::sandbox::GuestLimits;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// [`HostConfig::instance_idle`] by default, in seconds: as long as Durable Functions keeps an
/// orchestrator in memory with extended sessions (`extendedSessionIdleTimeoutInSeconds`).
pub const DEFAULT_INSTANCE_IDLE_SECS: u64 = 30;

/// Settings of a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Names this host in leases.
    pub owner: String,
    /// Orchestration turns run at once (entity batches too).
    pub orchestration_concurrency: usize,
    /// Activities run at once.
    pub activity_concurrency: usize,
    /// How long a lock on an orchestration (or entity) is held before others may take it.
    pub orchestration_lease: Duration,
    /// How long a lock on an activity task is held before others may take it; renewed while
    /// the activity runs, so it bounds how long a hung or unreachable host keeps a task, not
    /// how long an activity may run.
    pub activity_lease: Duration,
    /// How often to look for work written by other processes.
    pub poll_interval: Duration,
    /// Live orchestrator instances kept in memory.
    pub cache_capacity: usize,
    /// Linear memory, in bytes, the live orchestrator instances kept in memory may hold
    /// together; the least recently used are dropped past it (their next turn replays).
    pub cache_memory: usize,
    /// A live orchestrator instance kept in the cache, or an activity instance kept warm, is
    /// dropped once unused for this long (zero: only when the cache or the pool is full), so
    /// a quiet host gives the memory back; an orchestration's next turn then replays its
    /// history.
    pub instance_idle: Duration,
    /// Where compiled components are cached (none: no disk cache).
    pub compile_cache: Option<PathBuf>,
    /// CPU, memory and time limits of guest code.
    pub limits: GuestLimits,
    /// What the activities of every app may reach (files, environment, network, `call_http`
    /// hosts, config values).
    pub capabilities: ActivityCapabilities,
    /// What the activities of the deployments of an app (`durable deploy --app`) may reach
    /// besides `capabilities`, by app name ([`crate::grants`]).
    pub app_grants: BTreeMap<String, ActivityCapabilities>,
    /// Use wasmtime's pooling allocator (faster instantiation; reserves address space up
    /// front for every slot).
    pub pooling: bool,
    /// The largest payload, in bytes: an input, output, event data, entity state or custom
    /// status. A client's larger payload is refused; a guest's fails what produced it with
    /// `ResourceLimit` (an orchestration, an activity attempt, an entity operation).
    pub max_payload: usize,
    /// Guest instances alive at once with the pooling allocator (none: enough for the cache
    /// and both concurrencies, [`HostConfig::instance_slots`]). When every slot is taken,
    /// work waits for one and cached live orchestrators are evicted; nothing fails.
    pub instance_slots: Option<u32>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            owner: format!("host-{}", std::process::id()),
            orchestration_concurrency: 64,
            activity_concurrency: 64,
            orchestration_lease: Duration::from_secs(60),
            activity_lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(200),
            cache_capacity: 2048,
            cache_memory: 4 << 30,
            instance_idle: Duration::from_secs(DEFAULT_INSTANCE_IDLE_SECS),
            compile_cache: default_compile_cache(),
            limits: GuestLimits::default(),
            capabilities: ActivityCapabilities::default(),
            app_grants: BTreeMap::new(),
            pooling: true,
            instance_slots: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }
}

impl HostConfig {
    /// Guest instances alive at once: as set, or room for the live cached orchestrators,
    /// turns and entity batches in flight, running activities, and loading components.
    pub fn instance_slots(&self) -> u32 {
        self.instance_slots.unwrap_or_else(|| {
            let slots = self.cache_capacity
                + self.orchestration_concurrency
                + self.activity_concurrency
                + 64;
            u32::try_from(slots).unwrap_or(u32::MAX)
        })
    }
}

/// `$XDG_CACHE_HOME/durable` or `~/.cache/durable`.
pub fn default_compile_cache() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|dir| dir.join("durable"))
}
