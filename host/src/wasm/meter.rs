//! The step limit of orchestrators and entities, measured in the guest's own CPU time.
//!
//! The epoch ticker interrupts a running guest every [`super::EPOCH_TICK`]; at each tick the
//! meter adds the CPU time the guest's thread used since the previous tick. Time the thread
//! spent waiting for a core (a host busy with other work, other processes on the machine) is
//! not the guest's and is not counted, so a loaded host never cuts off a legitimate step, and
//! an endless loop still stops after about the limit of computing.

use std::thread::ThreadId;
use std::time::Duration;

/// CPU time one step of a sandboxed guest has used.
#[derive(Debug, Clone)]
pub(crate) struct StepMeter {
    limit: Duration,
    used: Duration,
    /// The thread the guest ran on at the last tick, and its CPU time then.
    last: Option<(ThreadId, Duration)>,
}

impl StepMeter {
    pub(crate) fn new(limit: Duration) -> Self {
        StepMeter {
            limit,
            used: Duration::ZERO,
            last: None,
        }
    }

    /// A step starts. Costs nothing: a step shorter than a tick never reads a clock.
    pub(crate) fn start(&mut self) {
        self.used = Duration::ZERO;
        self.last = None;
    }

    /// A tick came while the guest ran: `true` while it is within its limit.
    ///
    /// The first tick of a step counts a whole tick (the step started at most one tick ago;
    /// its CPU time at the start was not read). A tick on another thread than the previous
    /// one (the guest's fiber moved while it waited on the host) counts nothing for the
    /// interval in between, which is time spent waiting, not computing.
    pub(crate) fn tick(&mut self, tick: Duration) -> bool {
        let now = (std::thread::current().id(), thread_cpu_time());
        match self.last {
            None => self.used += tick,
            Some((thread, cpu)) if thread == now.0 => self.used += now.1.saturating_sub(cpu),
            Some(_) => {}
        }
        self.last = Some(now);
        self.used <= self.limit
    }
}

/// CPU time the calling thread has used.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Where threads have no CPU clock, the wall clock (a starved host may then cut a step off).
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(10);

    fn spin_for_cpu(wanted: Duration) {
        let start = thread_cpu_time();
        while thread_cpu_time() - start < wanted {
            std::hint::black_box(start);
        }
    }

    #[test]
    fn computing_counts_and_sleeping_does_not() {
        let mut meter = StepMeter::new(Duration::from_millis(40));
        meter.start();
        assert!(meter.tick(TICK), "the first tick counts one tick");
        std::thread::sleep(Duration::from_millis(100));
        assert!(meter.tick(TICK), "time off the CPU is not the guest's");
        spin_for_cpu(Duration::from_millis(20));
        assert!(meter.tick(TICK), "30 ms of 40");
        spin_for_cpu(Duration::from_millis(20));
        assert!(!meter.tick(TICK), "50 ms of 40");
    }

    #[test]
    fn a_new_step_starts_from_zero() {
        let mut meter = StepMeter::new(Duration::from_millis(15));
        meter.start();
        meter.tick(TICK);
        spin_for_cpu(Duration::from_millis(10));
        assert!(!meter.tick(TICK));
        meter.start();
        assert!(meter.tick(TICK));
    }

    #[test]
    fn a_tick_on_another_thread_counts_nothing_for_the_interval() {
        let mut meter = StepMeter::new(Duration::from_millis(15));
        meter.start();
        meter.tick(TICK);
        std::thread::scope(|s| {
            s.spawn(|| {
                spin_for_cpu(Duration::from_millis(30));
                assert!(meter.tick(TICK), "the interval ran on another thread");
            });
        });
    }
}
