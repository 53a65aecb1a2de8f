//! Running guest components with wasmtime.
//!
//! One [`WasmRuntime`] owns the wasmtime `Engine` (epoch interruption on, a
//! ticker thread advancing the epoch) and a table of [`LoadedComponent`]s by
//! digest. A component is compiled once and the machine code cached on disk
//! by digest, so a restart deserialises instead of recompiling. Each loaded
//! component keeps two `InstancePre`s: one linked against the deterministic
//! sandbox (orchestrators) and one against full WASI, whose stores get the
//! capabilities granted to the component's app (activities, [`crate::grants`]).
//!
//! A [`LiveOrchestration`] is one store holding one guest instance and one
//! `orchestration` resource; the dispatcher caches it between turns. An activity instance
//! whose call returned is kept warm for the next call of its component ([`warm`]).

mod bindings;
mod entity;
mod logs;
mod meter;
mod pool;
pub mod sandbox;
mod warm;

pub use entity::EntityBatchOutput;
pub use logs::{MAX_LOG_LINE, MAX_STEP_LOG};

use crate::grants::AppGrants;
use crate::store::{Catalogue, LogLine};
use crate::types::{Action, EventKind, Failure, HistoryEvent, Json, Timestamp, failure_types};
use anyhow::Context as _;
use bindings::{ActivityContext, DurableComponent, DurableComponentPre};
use pool::{MemoryBudget, SlotWaiter, waiting_for_a_slot};
use sandbox::{GuestLimits, GuestState};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warm::WarmPool;
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};

/// How often the epoch advances: how often a running guest's CPU time is checked.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The `sha256:<hex>` digest of component bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl bindings::durable::core::host::Host for GuestState {
    fn log(
        &mut self,
        level: bindings::durable::core::host::LogLevel,
        message: String,
    ) -> wasmtime::Result<()> {
        use bindings::durable::core::host::LogLevel;
        let level = match level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        self.logs.push(LogLine {
            timestamp: self.time.get(),
            level: level.into(),
            message,
        });
        Ok(())
    }

    fn version(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.version.clone())
    }
}

/// The wasmtime engine, compiled-code cache and loaded components.
pub struct WasmRuntime {
    engine: Engine,
    cache_dir: Option<PathBuf>,
    limits: GuestLimits,
    components: Mutex<HashMap<String, Arc<LoadedComponent>>>,
    slots: Arc<SlotWaiter>,
    /// Activity instances kept between calls.
    warm: Arc<WarmPool<WarmActivity>>,
    /// The linear memory running activities may hold together.
    activities_memory: MemoryBudget,
}

/// A compiled component, ready to instantiate.
pub struct LoadedComponent {
    /// `sha256:<hex>` of the component's bytes.
    pub digest: String,
    /// What it offers, as its `catalogue` export said when it was loaded.
    pub catalogue: Catalogue,
    sandboxed: DurableComponentPre<GuestState>,
    full: DurableComponentPre<GuestState>,
}

impl WasmRuntime {
    /// `cache_dir`: where compiled machine code is kept (none: no disk
    /// cache). `instance_slots`: guest instances alive at once (live cached
    /// orchestrators plus running activities); with some, instances come
    /// from a pooling allocator that reuses memory instead of mapping and
    /// unmapping it for every activity run, and work that finds every slot
    /// taken waits for one ([`WasmRuntime::on_pool_full`]).
    pub fn new(
        cache_dir: Option<PathBuf>,
        limits: GuestLimits,
        instance_slots: u32,
    ) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        if instance_slots > 0 {
            let max_memory = limits.orchestrator_memory.max(limits.activity_memory);
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(instance_slots)
                .max_core_instances_per_component(32)
                .max_memories_per_component(4)
                .max_tables_per_component(8)
                // A componentize-py or componentize-js component links a
                // dozen or more core instances (interpreter, libc, shims),
                // so budget the per-component maximum for every slot: the
                // count costs no memory, and a cache full of Python
                // instances must not exhaust it.
                .total_core_instances(instance_slots.saturating_mul(32))
                // At least what one component may have, so a pool of any size can hold one.
                .total_memories(instance_slots.saturating_mul(2).max(4))
                .total_tables(instance_slots.saturating_mul(4).max(8))
                .total_stacks(instance_slots)
                .max_memory_size(max_memory);
            // A freed slot's memory and table are reset by rewriting the pages the instance
            // touched (found with PAGEMAP_SCAN where the kernel has it, 6.7 and later), up to
            // these sizes, instead of by `madvise`: each `madvise` flushes the TLB of every
            // core, and the next instance faults the pages in again. That was a fifth of the
            // host's time with a short-lived orchestration per chain (`durable bench --only
            // a`: about 1,000 orchestrations/s before, 1,170-1,460 after on 2 cores). 2 MiB
            // holds what a Python orchestrator writes (about 1.5 MiB, in more scattered runs than
            // the 32 wasmtime scanned before 48.0.11 and 50): the next Python
            // instance in the slot then writes pages already its own instead of copying them
            // from the image, each copy an interrupt to the other core (2,000 Python chains:
            // 104-150 orchestrations/s before, 269-272 after). A free slot keeps at most this
            // much resident (`GuestLimits::free_slot_memory`, 2 MiB by default), and only pages
            // its last instance wrote.
            pool.linear_memory_keep_resident(limits.free_slot_memory)
                .table_keep_resident(64 << 10)
                .pagemap_scan(wasmtime::Enabled::Auto);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            // Reserve only what the limit allows (plus guards), not 4 GiB
            // per slot.
            config.memory_reservation(max_memory as u64);
        }
        let engine = Engine::new(&config)?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("durable-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        let warm = Arc::new(WarmPool::new(limits.activities_memory));
        let slots = Arc::new(SlotWaiter::default());
        let idle = warm.clone();
        slots.on_full_own(Box::new(move || idle.clear()));
        let activities_memory = MemoryBudget::new(limits.activities_memory);
        Ok(WasmRuntime {
            engine,
            cache_dir,
            limits,
            components: Mutex::new(HashMap::new()),
            slots,
            warm,
            activities_memory,
        })
    }

    /// Sets what to call when work finds every guest instance slot taken: it should drop
    /// instances kept only to save work (the engine's cached live orchestrators). The work
    /// then waits for a slot; it never fails for want of one.
    pub fn on_pool_full(&self, relief: impl Fn() + Send + Sync + 'static) {
        self.slots.on_full(Box::new(relief));
    }

    /// The resource limits guests run under.
    pub fn limits(&self) -> &GuestLimits {
        &self.limits
    }

    /// A component already loaded by digest.
    pub fn loaded(&self, digest: &str) -> Option<Arc<LoadedComponent>> {
        self.components
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }

    /// Compiles (or loads from the disk cache), links and describes a
    /// component. Errors name what is wrong with the bytes.
    pub async fn load(&self, bytes: &[u8]) -> anyhow::Result<Arc<LoadedComponent>> {
        let digest = digest_of(bytes);
        if let Some(loaded) = self.loaded(&digest) {
            return Ok(loaded);
        }
        let component = self.compile(&digest, bytes)?;
        let mut sandbox_linker = Linker::<GuestState>::new(&self.engine);
        sandbox::add_sandboxed_wasi(&mut sandbox_linker)?;
        DurableComponent::add_to_linker::<GuestState, HasSelf<GuestState>>(
            &mut sandbox_linker,
            |s| s,
        )?;
        sandbox::stub_forbidden_imports(&mut sandbox_linker, &component)?;
        let mut full_linker = Linker::<GuestState>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut full_linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut full_linker)?;
        wasmtime_wasi_config::add_to_linker(&mut full_linker, |s| {
            wasmtime_wasi_config::WasiConfig::from(&*s.config)
        })?;
        DurableComponent::add_to_linker::<GuestState, HasSelf<GuestState>>(
            &mut full_linker,
            |s| s,
        )?;
        let sandboxed = DurableComponentPre::new(
            sandbox_linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .context("the component does not fit the durable world (wit/durable.wit)")?,
        )?;
        let full = DurableComponentPre::new(
            full_linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .context("the component imports something the host cannot provide")?,
        )?;
        let catalogue = {
            let mut store = self.sandboxed_store("catalogue", "catalogue");
            let instance = self
                .instantiate(&sandboxed, &mut store, "catalogue")
                .await?;
            let catalogue = instance.durable_core_catalogue();
            let info = waiting_for_a_slot!(self.slots, catalogue.call_describe(&mut store).await)
                .map_err(anyhow::Error::from)
                .context("calling the component's catalogue")?;
            Catalogue {
                orchestrators: info.orchestrators,
                activities: info.activities,
                entities: info.entities,
            }
        };
        let loaded = Arc::new(LoadedComponent {
            digest: digest.clone(),
            catalogue,
            sandboxed,
            full,
        });
        self.components
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest, loaded.clone());
        Ok(loaded)
    }

    fn compile(&self, digest: &str, bytes: &[u8]) -> anyhow::Result<Component> {
        // One compile at a time per process: cranelift already uses every
        // core for one component, and a second host loading the same
        // component (tests, `durable run` next to `serve`) then finds it in
        // the disk cache instead of compiling it again.
        static COMPILING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
        let cached = self.cache_dir.as_ref().map(|dir| {
            let hex = digest.trim_start_matches("sha256:");
            dir.join(format!("{hex}-{}.cwasm", env!("CARGO_PKG_VERSION")))
        });
        if let Some(path) = &cached
            && let Some(component) = self.deserialize_cached(path)
        {
            crate::metrics::component_loaded(true);
            return Ok(component);
        }
        if bytes.starts_with(b"\0asm") && bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            anyhow::bail!(
                "this is a core WebAssembly module, not a component: build it for wasm32-wasip2 \
                 (or wrap it with `wasm-tools component new`)"
            );
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(anyhow::Error::from)
            .context("not a valid WebAssembly component")?;
        crate::metrics::component_loaded(false);
        if let Some(path) = &cached
            && let Err(e) = write_cache(path, &component)
        {
            tracing::warn!(
                "cannot cache compiled component at {}: {e:#}",
                path.display()
            );
        }
        Ok(component)
    }

    /// Loads machine code this runtime compiled earlier.
    #[allow(unsafe_code)] // reason: the file is one we wrote from `Component::serialize`
    fn deserialize_cached(&self, path: &Path) -> Option<Component> {
        if !path.exists() {
            return None;
        }
        // SAFETY: the cache directory holds only artifacts serialised by this
        // program (`write_cache`), named by the digest of their source and
        // the host version; wasmtime additionally checks engine compatibility.
        match unsafe { Component::deserialize_file(&self.engine, path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::debug!("ignoring stale cache entry {}: {e:#}", path.display());
                None
            }
        }
    }

    /// A store for a deterministic guest (orchestrator, entity batch), its step limit counted
    /// in its own CPU time ([`meter`]) at every epoch tick.
    fn sandboxed_store(&self, instance_id: &str, execution_id: &str) -> Store<GuestState> {
        let state = GuestState::sandboxed(
            instance_id,
            execution_id,
            self.limits.orchestrator_memory,
            self.limits.step_cpu,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(|mut ctx| {
            if ctx.data_mut().meter.tick(EPOCH_TICK) {
                Ok(UpdateDeadline::Continue(1))
            } else {
                Err(wasmtime::Trap::Interrupt.into())
            }
        });
        start_step(&mut store);
        store
    }

    /// Instantiates a component in `store` for `kind` of work (its metric's label), waiting
    /// while every instance slot is taken.
    async fn instantiate(
        &self,
        pre: &DurableComponentPre<GuestState>,
        store: &mut Store<GuestState>,
        kind: &'static str,
    ) -> wasmtime::Result<DurableComponent> {
        crate::metrics::guest_instantiated(kind);
        let instance = waiting_for_a_slot!(self.slots, pre.instantiate_async(&mut *store).await);
        // The wait is not the guest's: its step starts now.
        start_step(store);
        instance
    }

    fn orchestrator_limits(&self) -> CallLimits {
        CallLimits {
            step_cpu: self.limits.step_cpu,
            memory: self.limits.orchestrator_memory,
        }
    }

    /// Starts an orchestration instance in a fresh sandboxed store. A
    /// `Failure` means the instance must fail (unknown name, trap).
    pub async fn start_orchestration(
        &self,
        component: &LoadedComponent,
        name: &str,
        instance_id: &str,
        execution_id: &str,
    ) -> anyhow::Result<Result<LiveOrchestration, Failure>> {
        let mut store = self.sandboxed_store(instance_id, execution_id);
        let instantiated = self.instantiate(&component.sandboxed, &mut store, "orchestrator");
        let instance = match instantiated.await {
            Ok(instance) => instance,
            Err(e) => return Ok(Err(classify(e, &store, self.orchestrator_limits()))),
        };
        let orchestration = instance.durable_core_orchestrator().orchestration();
        let created = waiting_for_a_slot!(
            self.slots,
            orchestration
                .call_create(&mut store, name, instance_id)
                .await
        );
        let handle = match created {
            Ok(Ok(handle)) => handle,
            Ok(Err(failure)) => return Ok(Err(failure.into())),
            Err(e) => return Ok(Err(classify(e, &store, self.orchestrator_limits()))),
        };
        Ok(Ok(LiveOrchestration {
            store,
            instance,
            handle,
            limits: self.orchestrator_limits(),
            slots: self.slots.clone(),
            poisoned: false,
        }))
    }

    /// The idle activity instances kept warm.
    pub(crate) fn warm_activities(&self) -> usize {
        self.warm.len()
    }

    /// Drops the warm activity instances idle since `before` or earlier (engine clock, ms),
    /// giving their memory and instance slots back; says how many.
    pub(crate) fn drop_idle_activities(&self, before: Timestamp) -> usize {
        self.warm.drop_idle(before)
    }

    /// Bytes of linear memory the pool's free slots keep resident: the pages their last
    /// instances wrote, kept to be rewritten in place for the next instance (0 without the
    /// pooling allocator).
    pub fn free_slots_resident_bytes(&self) -> usize {
        (self.engine.pooling_allocator_metrics())
            .map_or(0, |pool| pool.unused_memory_bytes_resident())
    }

    /// Runs one activity attempt with `grants` (its app's capabilities, [`crate::grants`])
    /// and the limits. `Err` is an infrastructure problem (retry later); the inner result is
    /// the activity's outcome.
    pub async fn run_activity(
        &self,
        component: &LoadedComponent,
        grants: &AppGrants,
        name: &str,
        input: &Json,
        context: ActivityRun<'_>,
    ) -> anyhow::Result<(Result<Json, Failure>, Vec<LogLine>)> {
        let limits = CallLimits {
            step_cpu: self.limits.activity_timeout,
            memory: self.limits.activity_memory,
        };
        let app = context.app;
        let started = std::time::Instant::now();
        // Waiting for memory, like waiting for a slot, is not the activity's time.
        let _reserved = self.activities_memory.reserve(&component.digest).await;
        let WarmActivity {
            mut store,
            instance,
            calls,
        } = match self.warm.take(&component.digest, app) {
            Some(warm) => warm,
            None => {
                let state = GuestState::for_activity(
                    &grants.capabilities,
                    self.limits.activity_memory,
                    grants.outbound.for_app(app),
                )?;
                let mut store = Store::new(&self.engine, state);
                store.limiter(|s| &mut s.limits);
                // Instantiation runs guest code too (an interpreter's start-up).
                store.epoch_deadline_async_yield_and_update(1);
                // Waiting for a slot is not the activity's time: its timeout starts once it
                // has one.
                match self
                    .instantiate(&component.full, &mut store, "activity")
                    .await
                {
                    Ok(instance) => WarmActivity {
                        store,
                        instance,
                        calls: 0,
                    },
                    Err(e) => return Ok((Err(classify(e, &store, limits)), Vec::new())),
                }
            }
        };
        // Activities may compute for long: yield to tokio every tick so the timeout below can
        // interrupt them.
        store.epoch_deadline_async_yield_and_update(1);
        store.data().time.set(context.now);
        store.data().refused.clear();
        let ctx = ActivityContext {
            instance_id: context.instance_id.to_owned(),
            task_id: context.task_id,
            attempt: context.attempt,
        };
        let activity = instance.durable_core_activity();
        let call = async {
            waiting_for_a_slot!(
                self.slots,
                activity.call_run(&mut store, name, input, &ctx).await
            )
        };
        let outcome = tokio::time::timeout(self.limits.activity_timeout, call).await;
        // An instance whose call returned (a value or the activity's own failure) serves the
        // next call; one that trapped or was cut off by the timeout is dropped.
        let reusable = matches!(outcome, Ok(Ok(_)));
        let result = match outcome {
            Err(_) => Err(Failure::new(
                failure_types::ACTIVITY_TIMEOUT,
                format!(
                    "activity `{name}` did not finish within {:?}",
                    self.limits.activity_timeout
                ),
            )),
            Ok(Ok(result)) => result.map_err(Failure::from),
            Ok(Err(e)) => Err(classify(e, &store, limits)),
        };
        // A client that hid why the host refused a request (JavaScript's `fetch`) left the
        // failure without the reason: it gets it here.
        let result = result.map_err(|mut failure| {
            failure.message = store.data().refused.explain(failure.message);
            failure
        });
        let logs = store.data_mut().take_logs(context.now);
        let bytes = store.data().limits.linear_memory;
        (self.activities_memory).observe(&component.digest, bytes);
        let calls = calls + 1;
        if reusable && calls < CALLS_PER_INSTANCE {
            let warm = WarmActivity {
                store,
                instance,
                calls,
            };
            // Idle from now: the run's start on the engine's clock plus the time it took.
            let returned_at = context.now + started.elapsed().as_millis() as u64;
            (self.warm).put(
                &component.digest,
                app.map(Arc::from),
                bytes,
                warm,
                returned_at,
            );
        }
        Ok((result, logs))
    }
}

/// How many calls one activity instance serves before it is dropped for a fresh one, so what
/// a guest leaves behind between calls (globals, a growing heap) is bounded.
const CALLS_PER_INSTANCE: u32 = 1000;

/// An instantiated activity component with its store, between calls.
struct WarmActivity {
    store: Store<GuestState>,
    instance: DurableComponent,
    /// The calls it has served.
    calls: u32,
}

/// Facts about one activity attempt.
#[derive(Debug, Clone, Copy)]
pub struct ActivityRun<'a> {
    /// The instance that scheduled it.
    pub instance_id: &'a str,
    /// The sequence id of its `TaskScheduled` in that instance.
    pub task_id: u32,
    /// Which attempt this is; 1 on the first.
    pub attempt: u32,
    /// When the run starts, ms since the epoch; the time of its log lines.
    pub now: Timestamp,
    /// The app of its deployment (named when its requests are refused).
    pub app: Option<&'a str>,
}

/// A sandboxed guest's step starts: its CPU time counts from zero, checked at the next tick.
fn start_step(store: &mut Store<GuestState>) {
    store.data_mut().meter.start();
    store.set_epoch_deadline(1);
}

fn write_cache(path: &Path, component: &Component) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Which limits applied to the call that failed, for the error message.
#[derive(Debug, Clone, Copy)]
struct CallLimits {
    step_cpu: Duration,
    memory: usize,
}

/// Turns a wasmtime error from a guest call into the failure a user sees.
fn classify(error: wasmtime::Error, store: &Store<GuestState>, limits: CallLimits) -> Failure {
    let text = format!("{error:#}");
    let stderr = store.data().stderr.take();
    let mut failure = if let Some(at) = text.find(sandbox::BLOCKING_WAIT) {
        let wait = &text[at + sandbox::BLOCKING_WAIT.len()..];
        let wait = wait.split_whitespace().next().unwrap_or(wait);
        Failure::fatal(
            failure_types::SANDBOX_VIOLATION,
            format!(
                "orchestrator or entity code blocked on the clock for {wait} (a sleep such as \
                 `time.sleep` or `std::thread::sleep`): the sandbox never waits on real time; \
                 wait with a durable timer (create_timer) instead"
            ),
        )
    } else if let Some(wasmtime::Trap::Interrupt) = error.downcast_ref::<wasmtime::Trap>() {
        Failure::fatal(
            failure_types::RESOURCE_LIMIT,
            format!(
                "the guest computed for more than its CPU limit of {:?} in one step (its own \
                 CPU time, not time spent waiting) and was interrupted",
                limits.step_cpu
            ),
        )
    } else if let Some(at) = text.find("forcing trap when growing memory to ") {
        let rest = &text[at + "forcing trap when growing memory to ".len()..];
        let wanted = rest.split(' ').next().unwrap_or("?");
        Failure::fatal(
            failure_types::RESOURCE_LIMIT,
            format!(
                "the guest tried to grow its memory to {wanted} bytes, past its limit of {} MiB",
                limits.memory >> 20
            ),
        )
    } else if let Some(at) = text.find("forbidden import: `") {
        let rest = &text[at + "forbidden import: `".len()..];
        let import = rest.split('`').next().unwrap_or(rest);
        let message = if import.starts_with("wasi:filesystem") || import.starts_with("wasi:sockets")
        {
            format!(
                "orchestrator code called `{import}`: orchestrators run in a deterministic \
                 sandbox with no files or network; do I/O in an activity and call it with \
                 call_activity"
            )
        } else {
            format!("guest code called `{import}`, which the sandbox does not provide")
        };
        Failure::fatal(failure_types::SANDBOX_VIOLATION, message)
    } else if let Some(panic) = panic_message(&stderr) {
        Failure::fatal(failure_types::TRAP, format!("the guest panicked: {panic}"))
    } else {
        let first = text.lines().next().unwrap_or("unknown error");
        Failure::fatal(failure_types::TRAP, format!("the guest trapped: {first}"))
    };
    failure.stack = Some(if stderr.trim().is_empty() {
        text
    } else {
        format!("{}\n{text}", stderr.trim())
    });
    failure
}

/// Extracts "MESSAGE (at FILE:LINE:COL)" from Rust's panic output.
fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.find("panicked at ")?;
    let rest = &stderr[at + "panicked at ".len()..];
    let (location, message) = rest.split_once(":\n")?;
    let message: Vec<&str> = message
        .lines()
        .take_while(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    Some(format!("{} (at {location})", message.join("\n").trim()))
}

/// A live orchestration instance in its own sandboxed store.
pub struct LiveOrchestration {
    store: Store<GuestState>,
    instance: DurableComponent,
    handle: ResourceAny,
    limits: CallLimits,
    slots: Arc<SlotWaiter>,
    poisoned: bool,
}

/// What one step produced.
#[derive(Debug, Default)]
pub struct StepOutput {
    /// Every action the guest decided in the step, replayed ones included, in order.
    pub actions: Vec<Action>,
    /// The guest's log lines and output from the step; empty when replaying.
    pub logs: Vec<LogLine>,
}

impl LiveOrchestration {
    /// Bytes of linear memory the guest holds (every memory of its store).
    pub fn linear_memory_bytes(&self) -> usize {
        self.store.data().limits.linear_memory
    }

    /// Feeds one turn's events. On `Err` the instance is unusable and the
    /// orchestration must fail with that failure.
    pub async fn step(
        &mut self,
        events: &[HistoryEvent],
        replaying: bool,
        now: Timestamp,
    ) -> Result<StepOutput, Failure> {
        if self.poisoned {
            return Err(Failure::fatal(
                failure_types::TRAP,
                "the instance trapped earlier and cannot run",
            ));
        }
        self.store.data().time.set(now);
        if let Some(version) = events.iter().find_map(|e| match &e.kind {
            EventKind::ExecutionStarted { version, .. } => Some(version.clone()),
            _ => None,
        }) {
            self.store.data_mut().version = version;
        }
        start_step(&mut self.store);
        let events: Vec<_> = events.iter().filter_map(bindings::wit_event).collect();
        let orchestration = self.instance.durable_core_orchestrator().orchestration();
        let result = waiting_for_a_slot!(
            self.slots,
            orchestration
                .call_step(&mut self.store, self.handle, &events, replaying)
                .await
        );
        match result {
            Ok(out) => {
                let mut logs = self.store.data_mut().take_logs(now);
                if replaying {
                    logs.clear(); // recorded when the turn first ran
                }
                Ok(StepOutput {
                    actions: out.actions.into_iter().map(Into::into).collect(),
                    logs,
                })
            }
            Err(e) => {
                self.poisoned = true;
                Err(classify(e, &self.store, self.limits))
            }
        }
    }
}
