//! Per-store guest state and the two capability sets guests run with.
//!
//! Orchestrators (and later entities) run **sandboxed**: the wall clock is
//! the turn's replay-safe time, the monotonic clock advances with it, random
//! bytes come from a generator seeded by the instance, environment and
//! arguments are empty, and the filesystem and sockets interfaces are not
//! linked at all: calling them traps, and the trap is reported as a
//! `SandboxViolation` that says to use an activity. Activities run with the
//! capabilities an operator grants ([`ActivityCapabilities`]).

use super::logs::StepLog;
use super::meter::StepMeter;
use crate::grants::ActivityCapabilities;
use crate::outbound::{OutboundHttp, Refusals};
use crate::store::LogLine;
use crate::types::Timestamp;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::component::{HasData, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::{
    FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};
use wasmtime_wasi_io::poll::{Pollable, subscribe};

/// Most bytes of stdout/stderr kept per step; the rest is dropped.
const MAX_CAPTURED_OUTPUT: usize = 64 * 1024;

/// Resource limits for guest code.
#[derive(Debug, Clone)]
pub struct GuestLimits {
    /// CPU time one orchestrator step may take before it is interrupted.
    pub step_cpu: Duration,
    /// Linear memory one orchestrator instance may grow to.
    pub orchestrator_memory: usize,
    /// Linear memory one activity run may grow to.
    pub activity_memory: usize,
    /// Wall-clock time one activity run may take.
    pub activity_timeout: Duration,
    /// Linear memory the activities running at once may hold together: a run waits until its
    /// component's activity instances' last size fits ([`super::pool::MemoryBudget`]). The
    /// idle activity instances kept warm are bounded by as much again ([`super::warm`]).
    pub activities_memory: usize,
    /// Memory a free pool slot keeps of the pages its last instance wrote, rewritten in place
    /// so the next instance of the component writes pages already its own instead of faulting
    /// them in from the memory image (0: none; the rest is given back at once).
    pub free_slot_memory: usize,
}

impl Default for GuestLimits {
    fn default() -> Self {
        GuestLimits {
            step_cpu: Duration::from_secs(2),
            orchestrator_memory: 64 << 20,
            activity_memory: 512 << 20,
            activity_timeout: Duration::from_secs(300),
            activities_memory: 1 << 30,
            free_slot_memory: 2 << 20,
        }
    }
}

/// The data of every guest store.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: GuestLimiter,
    /// The replay-safe time, for sandboxed stores.
    pub(crate) time: VirtualTime,
    /// Guest `log` calls since the last [`GuestState::take_logs`], bounded.
    pub(crate) logs: StepLog,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    /// The CPU time of the current step, for sandboxed stores.
    pub(crate) meter: StepMeter,
    /// The running orchestration's version (`host.version`), from its `ExecutionStarted`.
    pub(crate) version: Option<String>,
    /// `wasi:http`: linked for activities only, sending what the operator's policy allows.
    http: WasiHttpCtx,
    outbound: Box<dyn WasiHttpHooks>,
    /// What `outbound` and the socket check refused during the current call.
    pub(crate) refused: Refusals,
    /// `wasi:config/store`: linked for activities only.
    pub(crate) config: Arc<WasiConfigVariables>,
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut *self.outbound,
        }
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl GuestState {
    /// State for a sandboxed orchestrator of `instance_id` (or an entity batch, whose seed
    /// takes the place of the ids), with `memory` bytes and `step_cpu` of CPU per step.
    pub fn sandboxed(
        instance_id: &str,
        execution_id: &str,
        memory: usize,
        step_cpu: Duration,
    ) -> Self {
        let time = VirtualTime::default();
        let stdout = CapturedOutput::default();
        let stderr = CapturedOutput::default();
        let seed: [u8; 32] = Sha256::new()
            .chain_update(instance_id.as_bytes())
            .chain_update([0])
            .chain_update(execution_id.as_bytes())
            .finalize()
            .into();
        let mut insecure_seed = [0u8; 16];
        insecure_seed.copy_from_slice(&seed[..16]);
        let wasi = WasiCtxBuilder::new()
            .wall_clock(time.clone())
            .monotonic_clock(time.clone())
            .secure_random(ChaCha20Rng::from_seed(seed))
            .insecure_random(ChaCha20Rng::from_seed(Sha256::digest(seed).into()))
            .insecure_random_seed(u128::from_le_bytes(insecure_seed))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        GuestState {
            wasi,
            table: ResourceTable::new(),
            limits: limits(memory),
            time,
            logs: StepLog::default(),
            stdout,
            stderr,
            meter: StepMeter::new(step_cpu),
            version: None,
            http: WasiHttpCtx::new(),
            outbound: Box::new(Closed),
            refused: Refusals::default(),
            config: Arc::default(),
        }
    }

    /// State for one activity run with the granted capabilities; its `wasi:http` requests
    /// go out under `outbound`, whose allow-list its sockets (if granted) are held to too.
    pub fn for_activity(
        caps: &ActivityCapabilities,
        memory: usize,
        outbound: OutboundHttp,
    ) -> anyhow::Result<Self> {
        let stdout = CapturedOutput::default();
        let stderr = CapturedOutput::default();
        let mut builder = WasiCtxBuilder::new();
        builder.envs(&caps.env);
        for (host, guest) in &caps.dirs {
            builder
                .preopened_dir(host, guest, FsPerms::ReadWrite)
                .map_err(|e| anyhow::anyhow!("cannot open directory {}: {e}", host.display()))?;
        }
        if caps.network {
            let check = (outbound.allowed())
                .socket_check(outbound.app().cloned(), outbound.refused().clone());
            // wasmtime-wasi allows neither TCP nor UDP unless told to.
            builder
                .allow_tcp(true)
                .allow_udp(true)
                .allow_ip_name_lookup(true)
                .socket_addr_check(check);
        }
        if caps.inherit_stdio {
            builder.inherit_stdout().inherit_stderr();
        } else {
            builder.stdout(stdout.clone()).stderr(stderr.clone());
        }
        Ok(GuestState {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limits: limits(memory),
            time: VirtualTime::default(),
            logs: StepLog::default(),
            stdout,
            stderr,
            // Activities are bounded by their timeout, in wall time.
            meter: StepMeter::new(Duration::MAX),
            version: None,
            http: WasiHttpCtx::new(),
            refused: outbound.refused().clone(),
            outbound: Box::new(outbound),
            config: caps.config.variables.clone(),
        })
    }
}

impl GuestState {
    /// The log lines since the last call (`log` calls, then captured stdout as `info` and
    /// stderr as `warn` lines), bounded per step ([`super::logs`]).
    pub(crate) fn take_logs(&mut self, now: Timestamp) -> Vec<LogLine> {
        for (level, text) in [("info", self.stdout.take()), ("warn", self.stderr.take())] {
            for line in text.lines().filter(|l| !l.is_empty()) {
                self.logs.push(LogLine {
                    timestamp: now,
                    level: level.into(),
                    message: line.to_owned(),
                });
            }
        }
        self.logs.take(now)
    }
}

fn limits(memory: usize) -> GuestLimiter {
    GuestLimiter {
        limits: StoreLimitsBuilder::new()
            .memory_size(memory)
            .trap_on_grow_failure(true)
            .build(),
        memory,
        linear_memory: 0,
        last_growth: 0,
    }
}

/// The store's memory limit: on each linear memory, and on all of them together (a Python or
/// JavaScript component has several). It counts the linear memory the guest holds, which
/// `durable bench` also reports per live instance.
pub(crate) struct GuestLimiter {
    limits: StoreLimits,
    /// Bytes all memories of the store may hold together.
    memory: usize,
    /// Bytes of linear memory of every memory in the store.
    pub(crate) linear_memory: usize,
    /// The last growth allowed, taken back if it then fails.
    last_growth: usize,
}

impl Drop for GuestLimiter {
    /// The store and its memories go with it.
    fn drop(&mut self) {
        crate::metrics::guest_memory(-(self.linear_memory as i64));
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.linear_memory + desired.saturating_sub(current);
        if total > self.memory {
            // The same words as a single memory's limit, so the failure reads the same.
            return Err(wasmtime::format_err!(
                "forcing trap when growing memory to {total} bytes (all memories of the store)"
            ));
        }
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.last_growth = desired.saturating_sub(current);
            self.linear_memory += self.last_growth;
            crate::metrics::guest_memory(self.last_growth as i64);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        let taken_back = self.last_growth.min(self.linear_memory);
        self.linear_memory -= taken_back;
        crate::metrics::guest_memory(-(taken_back as i64));
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Interfaces sandboxed guests may use (unversioned names).
const SANDBOX_INTERFACES: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/exit",
    "wasi:cli/environment",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
];

/// Defines every other interface the component imports (filesystem,
/// sockets, ...) with functions that trap with an error naming the call, so
/// a component that links them still instantiates, and fails only if
/// orchestrator code actually calls them.
pub fn stub_forbidden_imports(
    linker: &mut Linker<GuestState>,
    component: &wasmtime::component::Component,
) -> wasmtime::Result<()> {
    use wasmtime::component::ResourceType;
    use wasmtime::component::types::ComponentItem;
    let engine = linker.engine().clone();
    let ty = component.component_type();
    let allowed = |name: &str| {
        let unversioned = name.split('@').next().unwrap_or(name);
        unversioned.starts_with("durable:") || SANDBOX_INTERFACES.contains(&unversioned)
    };
    // Resources of linked interfaces that forbidden ones re-use (streams,
    // pollables, and `wasi:io/error`'s `error`, which `wasi:http/types`
    // re-exports as `io-error`): those are already defined and must not be
    // redefined. They are told by their type, whatever name re-exports them.
    let mut linked_resources = Vec::new();
    for (name, import) in ty.imports(&engine) {
        if let (true, ComponentItem::ComponentInstance(instance)) = (allowed(name), &import.ty) {
            for (_, export) in instance.exports(&engine) {
                if let ComponentItem::Resource(resource) = export.ty {
                    linked_resources.push(resource);
                }
            }
        }
    }
    for (name, import) in ty.imports(&engine) {
        if allowed(name) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = import.ty else {
            continue;
        };
        let mut stub = linker.instance(name)?;
        for (item, export) in instance.exports(&engine) {
            match export.ty {
                ComponentItem::ComponentFunc(_) => {
                    let called = format!("{name}#{item}");
                    stub.func_new(item, move |_, _, _, _| {
                        Err(wasmtime::format_err!("forbidden import: `{called}`"))
                    })?;
                }
                ComponentItem::Resource(resource) if !linked_resources.contains(&resource) => {
                    stub.resource(item, ResourceType::host::<()>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Links what sandboxed guests may use: clocks, random, stdio, environment
/// (empty) and exit. Filesystem and sockets stay unlinked; the component's
/// remaining imports are defined as traps per component.
pub fn add_sandboxed_wasi(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::WasiCli;
    use wasmtime_wasi::clocks::WasiClocks;
    use wasmtime_wasi::p2::bindings::{cli, clocks, random};
    use wasmtime_wasi::random::WasiRandom;
    use wasmtime_wasi_io::bindings::wasi::io;

    struct HasIo;
    impl HasData for HasIo {
        type Data<'a> = &'a mut ResourceTable;
    }
    let l = linker;
    io::error::add_to_linker::<GuestState, HasIo>(l, |t| &mut t.table)?;
    io::poll::add_to_linker::<GuestState, HasIo>(l, |t| &mut t.table)?;
    io::streams::add_to_linker::<GuestState, HasIo>(l, |t| &mut t.table)?;
    clocks::wall_clock::add_to_linker::<GuestState, WasiClocks>(l, |t| {
        wasmtime_wasi::clocks::WasiClocksView::clocks(t)
    })?;
    clocks::monotonic_clock::add_to_linker::<GuestState, HasSelf<GuestState>>(l, |t| t)?;
    random::random::add_to_linker::<GuestState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure::add_to_linker::<GuestState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure_seed::add_to_linker::<GuestState, WasiRandom>(l, |t| t.wasi.random())?;
    cli::exit::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    cli::environment::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    cli::stdin::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    cli::stdout::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    cli::stderr::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    cli::terminal_input::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    cli::terminal_output::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    cli::terminal_stdin::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    cli::terminal_stdout::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    cli::terminal_stderr::add_to_linker::<GuestState, WasiCli>(l, cli_view::<GuestState>)?;
    Ok(())
}

/// What a sandboxed guest's blocking wait on the clock fails with; [`super::classify`] turns
/// it into a `SandboxViolation`.
pub(crate) const BLOCKING_WAIT: &str = "blocking wait on the clock for ";

/// The monotonic clock of sandboxed guests: the turn's time, which does not move while a step
/// runs, so waiting on it could only ever wait on real time. A wait of zero (a non-blocking
/// poll) is ready at once; any other wait (a blocking sleep such as `time.sleep` or
/// `std::thread::sleep`) fails the step at once instead of holding a worker.
impl wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host for GuestState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(HostMonotonicClock::now(&self.time))
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(HostMonotonicClock::resolution(&self.time))
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let now = HostMonotonicClock::now(&self.time);
        self.ready_or_refused(when.saturating_sub(now))
    }

    fn subscribe_duration(&mut self, nanos: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready_or_refused(nanos)
    }
}

impl GuestState {
    fn ready_or_refused(&mut self, nanos: u64) -> wasmtime::Result<Resource<DynPollable>> {
        if nanos > 0 {
            return Err(wasmtime::format_err!(
                "{BLOCKING_WAIT}{:?}",
                Duration::from_nanos(nanos)
            ));
        }
        let ready = self.table.push(Ready)?;
        subscribe(&mut self.table, ready)
    }
}

/// A pollable that is always ready.
struct Ready;

#[async_trait::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

fn cli_view<T: WasiView>(t: &mut T) -> wasmtime_wasi::cli::WasiCliCtxView<'_> {
    wasmtime_wasi::cli::WasiCliView::cli(t)
}

/// The replay-safe time of a sandboxed store, in milliseconds since the
/// epoch; the host sets it before every step.
#[derive(Debug, Clone, Default)]
pub struct VirtualTime(Arc<AtomicU64>);

impl VirtualTime {
    /// Sets the time the guest reads, ms since the epoch.
    pub fn set(&self, now: Timestamp) {
        self.0.store(now, Ordering::Relaxed);
    }

    /// The time the guest reads, ms since the epoch.
    pub fn get(&self) -> Timestamp {
        self.0.load(Ordering::Relaxed)
    }
}

impl HostWallClock for VirtualTime {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.get())
    }
}

impl HostMonotonicClock for VirtualTime {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        self.get().saturating_mul(1_000_000)
    }
}

/// A bounded in-memory sink for guest stdout/stderr.
#[derive(Debug, Clone, Default)]
pub struct CapturedOutput(Arc<Mutex<Vec<u8>>>);

impl CapturedOutput {
    /// Takes what was written since the last call.
    pub fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_CAPTURED_OUTPUT.saturating_sub(out.len());
        out.extend_from_slice(&buf[..buf.len().min(room)]);
        // Report everything as written: output beyond the cap is dropped.
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The `wasi:http` hooks of sandboxed stores, which never link `wasi:http` (the import traps
/// as forbidden): every request is refused, should one get this far.
struct Closed;

impl WasiHttpHooks for Closed {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_limit_bounds_all_memories_of_a_store_together() {
        let mut limiter = limits(10 << 20);
        assert!(limiter.memory_growing(0, 6 << 20, None).unwrap());
        let second = limiter.memory_growing(0, 6 << 20, None).unwrap_err();
        assert!(
            second
                .to_string()
                .starts_with("forcing trap when growing memory to 12582912 bytes"),
            "{second}"
        );
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(limiter.linear_memory, 10 << 20);
    }
}
