//! `task_all` and `task_any`: tasks made of other tasks.
//!
//! A combinator is a [`TaskSource`] over its children's sources. It decides from the arrival
//! order of the children's outcomes, never from when it happens to be polled, so a combinator
//! created after its children finished picks the same winner (or first failure) as one that was
//! waiting all along, and a cold replay agrees with a live run. Once resolved, the result is
//! cached; children stay shared, so a pending task can go into several combinators.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

use super::state::{ReplayState, Resolved};
use super::task::{ReadySource, Task, TaskSource};
use crate::failure::{Failure, INVALID_INPUT};

/// A task that completes when all `tasks` complete, with their values in the order given, or
/// fails as soon as one fails, with the failure that came first in history order.
/// `task_all(vec![])` completes at once with an empty list.
pub fn task_all<T>(tasks: Vec<Task<T>>) -> Task<Vec<T>> {
    if tasks.is_empty() {
        return Task::from_source(Rc::new(ReadySource(Resolved {
            order: 0,
            outcome: Rc::new(Ok(Value::Array(Vec::new()))),
        })));
    }
    let children: Vec<Rc<dyn TaskSource>> = tasks.into_iter().map(|t| t.source).collect();
    Task::from_source(Rc::new(AllSource {
        state: children.iter().find_map(|child| child.state()),
        progress: RefCell::new(AllProgress::default()),
        children,
    }))
}

/// A task that completes when the first of `tasks` completes (in history order), with that
/// task's index and its outcome; a failed task can win. It never fails itself, except that
/// `task_any(vec![])` fails at once with an `InvalidInput` failure (there is nothing to wait
/// for).
pub fn task_any<T>(tasks: Vec<Task<T>>) -> Task<(usize, Result<T, Failure>)> {
    if tasks.is_empty() {
        return Task::failed(
            Failure::new(INVALID_INPUT, "task_any needs at least one task").non_retriable(),
        );
    }
    let children: Vec<Rc<dyn TaskSource>> = tasks.into_iter().map(|t| t.source).collect();
    Task::from_source(Rc::new(AnySource {
        state: children.iter().find_map(|child| child.state()),
        children,
        cached: RefCell::new(None),
    }))
}

struct AllSource {
    children: Vec<Rc<dyn TaskSource>>,
    /// The replay state the children read (`None` when all of them finished when made).
    state: Option<Rc<RefCell<ReplayState>>>,
    progress: RefCell<AllProgress>,
}

/// What an `AllSource` has learned so far. Each child is read until it has finished, in the
/// order given, and not again, and the children are searched for a failure only when one was
/// recorded since the last search: a fan-in of N costs O(N) reads of its children in all,
/// where reading every pending child at every poll cost O(N^2).
#[derive(Default)]
struct AllProgress {
    /// The children before this index finished successfully.
    done: usize,
    /// The latest arrival order among them.
    last: u64,
    /// The state's count of failures at the last search for a failed child.
    searched: Option<u64>,
    cached: Option<Resolved>,
}

impl AllSource {
    fn compute(&self, progress: &mut AllProgress) -> Option<Resolved> {
        // A failure fails the whole at once: the first in history order.
        let failures = (self.state.as_ref()).map_or(0, |state| state.borrow().failures());
        if progress.searched != Some(failures) {
            progress.searched = Some(failures);
            let first_failure = self.children[progress.done..]
                .iter()
                .filter_map(|child| child.resolved())
                .filter(|resolved| resolved.outcome.is_err())
                .min_by_key(|resolved| resolved.order);
            if first_failure.is_some() {
                return first_failure;
            }
        }
        while let Some(child) = self.children.get(progress.done) {
            let resolved = child.resolved()?;
            if resolved.outcome.is_err() {
                return Some(resolved);
            }
            progress.last = progress.last.max(resolved.order);
            progress.done += 1;
        }
        let values = (self.children.iter())
            .filter_map(|child| child.resolved())
            .filter_map(|resolved| resolved.outcome.as_ref().as_ref().ok().cloned())
            .collect();
        Some(Resolved {
            order: progress.last,
            outcome: Rc::new(Ok(Value::Array(values))),
        })
    }
}

impl TaskSource for AllSource {
    fn resolved(&self) -> Option<Resolved> {
        let mut progress = self.progress.borrow_mut();
        if let Some(cached) = progress.cached.as_ref() {
            return Some(cached.clone());
        }
        let resolved = self.compute(&mut progress)?;
        progress.cached = Some(resolved.clone());
        Some(resolved)
    }

    fn state(&self) -> Option<Rc<RefCell<ReplayState>>> {
        self.state.clone()
    }
}

struct AnySource {
    children: Vec<Rc<dyn TaskSource>>,
    /// The replay state the children read (`None` when all of them finished when made).
    state: Option<Rc<RefCell<ReplayState>>>,
    cached: RefCell<Option<Resolved>>,
}

impl AnySource {
    fn compute(&self) -> Option<Resolved> {
        let (index, winner) = self
            .children
            .iter()
            .enumerate()
            .filter_map(|(index, child)| child.resolved().map(|r| (index, r)))
            .min_by_key(|(_, resolved)| resolved.order)?;
        // Serialised the way serde serialises `(usize, Result<T, Failure>)`.
        let outcome = match &*winner.outcome {
            Ok(value) => serde_json::json!([index, { "Ok": value }]),
            Err(failure) => serde_json::json!([index, { "Err": failure }]),
        };
        Some(Resolved {
            order: winner.order,
            outcome: Rc::new(Ok(outcome)),
        })
    }
}

impl TaskSource for AnySource {
    fn resolved(&self) -> Option<Resolved> {
        if let Some(cached) = self.cached.borrow().as_ref() {
            return Some(cached.clone());
        }
        let resolved = self.compute()?;
        *self.cached.borrow_mut() = Some(resolved.clone());
        Some(resolved)
    }

    fn state(&self) -> Option<Rc<RefCell<ReplayState>>> {
        self.state.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::orchestration::task::SequencedSource;

    /// A child that counts how often it is read.
    struct Counted {
        inner: SequencedSource,
        reads: Rc<Cell<usize>>,
    }

    impl TaskSource for Counted {
        fn resolved(&self) -> Option<Resolved> {
            self.reads.set(self.reads.get() + 1);
            self.inner.resolved()
        }

        fn state(&self) -> Option<Rc<RefCell<ReplayState>>> {
            self.inner.state()
        }
    }

    /// `n` tasks reading `state` by sequence ids 0..n, and the count of their reads.
    fn counted(state: &Rc<RefCell<ReplayState>>, n: u32) -> (Vec<Task<Value>>, Rc<Cell<usize>>) {
        let reads = Rc::new(Cell::new(0));
        let tasks = (0..n)
            .map(|sequence_id| {
                Task::from_source(Rc::new(Counted {
                    inner: SequencedSource {
                        state: state.clone(),
                        sequence_id,
                    },
                    reads: reads.clone(),
                }))
            })
            .collect();
        (tasks, reads)
    }

    #[test]
    fn a_fan_in_reads_each_child_a_bounded_number_of_times() {
        let n = 2_000;
        let state = Rc::new(RefCell::new(ReplayState::new("fan-in".into())));
        let (tasks, reads) = counted(&state, n);
        let all = task_all(tasks);
        // Polled after every result, as the executor does, the results arriving last first.
        for id in (0..n).rev() {
            assert!(all.source.resolved().is_none());
            state.borrow_mut().resolve(id, Ok(Value::from(id)));
        }
        let resolved = all.source.resolved().expect("every child finished");
        let expected: Vec<Value> = (0..n).map(Value::from).collect();
        assert_eq!(*resolved.outcome, Ok(Value::Array(expected)));
        assert_eq!(
            resolved.order,
            u64::from(n - 1),
            "the last result's arrival"
        );
        // One search for a failure, one read of the first pending child per poll, one walk
        // to the end and one to collect the values: 4n. Reading every pending child at every
        // poll made n * (n + 1) / 2 reads: 2,001,000.
        assert!(
            reads.get() <= 5 * n as usize,
            "{} reads of {n} children",
            reads.get()
        );
    }

    #[test]
    fn a_fan_in_fails_with_the_first_failure_in_history_order() {
        let state = Rc::new(RefCell::new(ReplayState::new("fan-in".into())));
        let (tasks, _) = counted(&state, 4);
        let all = task_all(tasks);
        state.borrow_mut().resolve(0, Ok(Value::Null));
        assert!(all.source.resolved().is_none());
        // Child 3 fails before child 2 does, and child 1 is still running.
        let failure = |message: &str| Err(Failure::new("Boom", message));
        state.borrow_mut().resolve(3, failure("three"));
        state.borrow_mut().resolve(2, failure("two"));
        let resolved = all.source.resolved().expect("a child failed");
        assert_eq!(*resolved.outcome, failure("three"));
        state.borrow_mut().resolve(1, Ok(Value::Null));
        assert_eq!(*all.source.resolved().unwrap().outcome, failure("three"));
    }
}
