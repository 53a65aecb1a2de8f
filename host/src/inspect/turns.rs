//! An instance's history read as the turns that made it: for each turn, the events fed to
//! the code and what the code decided. The dashboard's replay view steps through these.
//!
//! Nothing is run: the history records both sides of every turn (the engine appends a turn's
//! messages, then the events of the actions the code took), so splitting it at each
//! `OrchestratorStarted` ([`crate::replay::split_turns`]) and sorting each event by
//! [`EventKind::is_decision`] gives what `durable replay` would show for that turn.

use crate::replay::{split_turns, turn_time};
use crate::types::{EventKind, HistoryEvent, Timestamp};

/// One committed turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Its position in the history, from 1.
    pub number: usize,
    /// Its replay-safe time (its `OrchestratorStarted`'s), ms since the epoch.
    pub at: Timestamp,
    /// The events fed to the code: the start, completions, raised events, client actions.
    pub received: Vec<HistoryEvent>,
    /// What the code decided: the actions it took and how its execution ended.
    pub decided: Vec<HistoryEvent>,
}

/// The turns of a committed history, in order (`OrchestratorStarted` itself is in neither
/// list: its time is the turn's).
pub fn turns(history: &[HistoryEvent]) -> Vec<Turn> {
    split_turns(history)
        .into_iter()
        .enumerate()
        .map(|(i, events)| {
            let (decided, received) = events
                .iter()
                .filter(|e| !matches!(e.kind, EventKind::OrchestratorStarted))
                .cloned()
                .partition(|e| e.kind.is_decision());
            Turn {
                number: i + 1,
                at: turn_time(events),
                received,
                decided,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(timestamp: Timestamp, event_id: Option<u32>, kind: EventKind) -> HistoryEvent {
        HistoryEvent {
            event_id,
            timestamp,
            kind,
        }
    }

    #[test]
    fn each_turn_splits_into_what_was_fed_and_what_was_decided() {
        let history = vec![
            at(10, None, EventKind::OrchestratorStarted),
            at(
                10,
                None,
                EventKind::ExecutionStarted {
                    name: "chain".into(),
                    instance_id: "i".into(),
                    execution_id: "e".into(),
                    input: "1".into(),
                    parent: None,
                    version: None,
                    trace: None,
                },
            ),
            at(
                10,
                Some(0),
                EventKind::TaskScheduled {
                    name: "double".into(),
                    input: "1".into(),
                },
            ),
            at(10, Some(1), EventKind::TimerCreated { fire_at: 99 }),
            at(20, None, EventKind::OrchestratorStarted),
            at(
                20,
                None,
                EventKind::TaskCompleted {
                    task_id: 0,
                    result: "2".into(),
                },
            ),
            at(
                20,
                None,
                EventKind::ExecutionCompleted {
                    result: Some("2".into()),
                    failure: None,
                },
            ),
        ];
        let turns = turns(&history);
        let labels =
            |events: &[HistoryEvent]| events.iter().map(|e| e.kind.label()).collect::<Vec<_>>();
        assert_eq!(turns.len(), 2);
        assert_eq!((turns[0].number, turns[0].at), (1, 10));
        assert_eq!(labels(&turns[0].received), ["ExecutionStarted"]);
        assert_eq!(labels(&turns[0].decided), ["TaskScheduled", "TimerCreated"]);
        assert_eq!((turns[1].number, turns[1].at), (2, 20));
        assert_eq!(labels(&turns[1].received), ["TaskCompleted"]);
        assert_eq!(labels(&turns[1].decided), ["ExecutionCompleted"]);
        assert!(super::turns(&[]).is_empty());
    }
}
