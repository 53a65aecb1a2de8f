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

use super::state::Resolved;
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
        progress: RefCell::new(AllProgress {
            pending: (0..children.len()).collect(),
            outcomes: vec![None; children.len()],
            first_failure: None,
            cached: None,
        }),
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
    Task::from_source(Rc::new(AnySource {
        children: tasks.into_iter().map(|t| t.source).collect(),
        cached: RefCell::new(None),
    }))
}

struct AllSource {
    children: Vec<Rc<dyn TaskSource>>,
    progress: RefCell<AllProgress>,
}

/// What an `AllSource` has learned so far. Only children still pending are
/// looked at again, so a fan-out of N costs O(pending) per poll instead of
/// re-reading (and cloning) every child's value.
struct AllProgress {
    pending: Vec<usize>,
    outcomes: Vec<Option<Resolved>>,
    first_failure: Option<Resolved>,
    cached: Option<Resolved>,
}

impl AllSource {
    fn compute(&self, progress: &mut AllProgress) -> Option<Resolved> {
        let AllProgress {
            pending,
            outcomes,
            first_failure,
            ..
        } = progress;
        pending.retain(|&index| match self.children[index].resolved() {
            None => true,
            Some(resolved) => {
                let earlier = first_failure
                    .as_ref()
                    .is_none_or(|first| resolved.order < first.order);
                if resolved.outcome.is_err() && earlier {
                    *first_failure = Some(resolved.clone());
                }
                outcomes[index] = Some(resolved);
                false
            }
        });
        if let Some(failure) = first_failure {
            return Some(failure.clone());
        }
        if !pending.is_empty() {
            return None;
        }
        let mut last_order = 0;
        let mut values = Vec::with_capacity(outcomes.len());
        for resolved in outcomes.iter().flatten() {
            last_order = last_order.max(resolved.order);
            if let Ok(value) = &*resolved.outcome {
                values.push(value.clone());
            }
        }
        Some(Resolved {
            order: last_order,
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
}

struct AnySource {
    children: Vec<Rc<dyn TaskSource>>,
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
}
