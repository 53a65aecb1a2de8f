// Hand-built histories for the executor's unit tests, and a runner that checks a cached
// instance (fed turn by turn) and a cold one (fed everything at once) decide the same.
import assert from 'node:assert/strict';

import { Failure } from '../src/index.js';
import { Event, Executor } from '../src/replay.js';


export const started = (input = null) => new Event('ExecutionStarted', { data: { input: JSON.stringify(input) } });
export const turn = (time, ...events) => [new Event('OrchestratorStarted', { timestamp: time }), ...events];
export const scheduled = (name, input) => new Event('TaskScheduled', { data: { name, input: JSON.stringify(input) } });
export const completed = (taskId, result) => new Event('TaskCompleted', { data: { taskId, result: JSON.stringify(result) } });
export const failed = (taskId, type, message, extra = {}) => new Event('TaskFailed', { data: { taskId, failure: new Failure(type, message, extra) } });
export const timerFired = (timerId) => new Event('TimerFired', { data: { timerId } });
export const raised = (name, input) => new Event('EventRaised', { data: { name, input: JSON.stringify(input) } });
export const granted = (taskId) => new Event('EntityLockGranted', { data: { taskId } });
export const responded = (taskId, result) => new Event('EntityResponded', { data: { taskId, result: JSON.stringify(result), failure: null } });

/** Short descriptions of actions: `ScheduleActivity#0 step(1)`. */
export function describe(actions) {
  return actions.map((a) => {
    const d = a.data;
    switch (a.kind) {
      case 'ScheduleActivity':
        return `ScheduleActivity#${a.id} ${d.name}(${d.input})`;
      case 'StartTimer':
        return `StartTimer#${a.id} ${d.fireAt}`;
      case 'CancelTimer':
        return `CancelTimer ${d.timerId}`;
      case 'StartSubOrchestration':
        return `StartSubOrchestration#${a.id} ${d.name}(${d.input})`;
      case 'CallEntity':
        return `CallEntity#${a.id} ${d.entity.name}@${d.entity.key}.${d.operation}(${d.input})`;
      case 'SignalEntity':
        return `SignalEntity#${a.id} ${d.entity.name}@${d.entity.key}.${d.operation}(${d.input})${d.scheduledAt === null ? '' : ` at ${d.scheduledAt}`}`;
      case 'LockEntities':
        return `LockEntities#${a.id} ${d.entities.map((e) => `${e.name}@${e.key}`).join(',')}`;
      case 'UnlockEntities':
        return `UnlockEntities ${d.entities.map((e) => `${e.name}@${e.key}`).join(',')}`;
      case 'SetCustomStatus':
        return `SetCustomStatus ${d.status}`;
      case 'Complete':
        return `Complete ${d.result}`;
      case 'Fail':
        return `Fail ${d.failure.type}: ${d.failure.message}`;
      case 'ContinueAsNew':
        return `ContinueAsNew ${d.input} ${JSON.stringify(d.carriedEvents)}`;
      default:
        return a.kind;
    }
  });
}

/** Runs `orchestrator` over `turns` twice, turn by turn (cached) and all at once (cold), checks
 * both give the same actions, and returns the actions of the last turn. */
export function run(orchestrator, turns) {
  const cached = new Executor(orchestrator, 'test');
  let last = [];
  const all = [];
  turns.forEach((t, i) => {
    last = cached.step(t, i < turns.length - 1);
    all.push(...last);
  });
  const cold = new Executor(orchestrator, 'test');
  const replayed = cold.step(turns.flat(), false);
  assert.deepEqual(describe(replayed), describe(all), 'a cold replay decides what the cached instance decided');
  return describe(last);
}
