// Every conformance scenario (`tests/conformance/*.json`) against the JavaScript conformance app
// (`tests/guests/js-conformance/app.js`), natively: no component build, so an SDK change is
// checked in seconds. The end-to-end run of the same scenarios through the built component is
// `tests/e2e/js.rs`; the host's side of the replay is ported in `test-support/conformance.js`.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import {
  SCENARIO_DIR,
  compare,
  loadConformanceApp,
  loadScenario,
  runScenario,
  scenarioFiles,
  scenarioHistory,
  verdict,
} from '../test-support/conformance.js';

// Scenarios the JavaScript SDK does not pass natively yet, and why. A listed scenario that
// passes fails the test, so that its entry is removed.
const KNOWN_GAPS = new Map([]);

const Orchestration = await loadConformanceApp();
const files = scenarioFiles();

test('the conformance scenarios are found', () => {
  assert.ok(files.length > 40, `scenarios are missing from ${SCENARIO_DIR}: ${files}`);
});

for (const file of files) {
  const scenario = loadScenario(file);
  test(`conformance: ${scenario.name}`, (t) => {
    assert.equal(scenario.name, path.basename(file, '.json'), 'a scenario is named after its file');
    const { mismatches, actual } = runScenario(Orchestration, scenario);
    if (KNOWN_GAPS.has(scenario.name)) {
      assert.ok(mismatches.length > 0, `${scenario.name} passes now: remove it from KNOWN_GAPS`);
      t.skip(`known gap: ${KNOWN_GAPS.get(scenario.name)}`);
      return;
    }
    if (mismatches.length > 0) assert.fail(verdict(scenario.name, mismatches, actual));
  });
}

// --- the unit tests of host/src/inspect/scenario.rs, against the port ---

test('compact turns become numbered engine history', () => {
  const { history, at, newEvents } = scenarioHistory({
    name: 't',
    orchestrator: 'chain',
    input: 2,
    history: [
      [{ type: 'TaskScheduled', name: 'step', input: 0 }],
      {
        time: 5000,
        events: [
          { type: 'TaskCompleted', taskId: 0, result: 'a' },
          { type: 'TaskScheduled', name: 'step', input: 1 },
        ],
      },
    ],
    newEvents: [{ type: 'TaskCompleted', taskId: 1 }],
    expect: {},
  });
  assert.deepEqual(
    history.map((e) => [e.eventId, e.timestamp, e.type]),
    [
      [undefined, 1000, 'OrchestratorStarted'],
      [undefined, 1000, 'ExecutionStarted'],
      [0, 1000, 'TaskScheduled'],
      [undefined, 5000, 'OrchestratorStarted'],
      [undefined, 5000, 'TaskCompleted'],
      [1, 5000, 'TaskScheduled'],
    ],
  );
  assert.equal(history[4].result, '"a"');
  assert.equal(at, 6000);
  assert.deepEqual(newEvents, [{ type: 'TaskCompleted', taskId: 1, result: 'null' }]);
});

test('an empty history starts the execution in the new turn', () => {
  const { history, at, newEvents } = scenarioHistory({ name: 't', orchestrator: 'o', input: { a: 1 }, expect: {} });
  assert.deepEqual([history, at, newEvents.map((e) => [e.type, e.input])], [[], 1000, [['ExecutionStarted', '{"a":1}']]]);
});

test('compare checks listed keys only', () => {
  const actual = {
    status: 'Failed',
    actions: [{ id: 0, type: 'ScheduleActivity', name: 'a', input: 1 }],
    failure: { type: 'X', message: 'm', nonRetriable: false },
    customStatus: null,
  };
  const matching = { status: 'Failed', actions: [{ type: 'ScheduleActivity', name: 'a' }], failure: { type: 'X' } };
  assert.deepEqual(compare(matching, actual), []);
  const wrong = { actions: [{ name: 'b' }], customStatus: 'busy', failure: { type: 'Y' } };
  const paths = compare(wrong, actual).map((m) => m.split(':')[0]);
  assert.deepEqual(paths, ['actions[0].name', 'customStatus', 'failure.type']);
  assert.equal(compare({ actions: [] }, actual).length, 1);
});
