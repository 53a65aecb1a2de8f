// Drives `durable serve` with the official Durable Functions JavaScript client (the
// `durable-functions` npm package) through every method its DurableClient has, as a Durable
// Functions app would: run by tests/e2e/df_clients.rs with NODE_PATH set to the installed
// package's node_modules. (It has no restart method, unlike the Python client.)
//
// Environment: DF_CLIENT_BINDING, the client binding JSON (what the Functions host hands a
// client function's `durableClient` input); DF_FLAG_FILE, the file that lets the probe's
// `needs_flag` succeed. Any mismatch exits non-zero with a message naming it.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const df = require("durable-functions");

const S = df.OrchestrationRuntimeStatus;
const DEADLINE_MS = 60_000;

function expect(actual, expected, what) {
    assert.deepStrictEqual(actual, expected, what);
    console.log(`ok: ${what}`);
}

// Calls `probe` until `done(value)` holds, for at most DEADLINE_MS.
async function until(what, probe, done) {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
        const value = await probe();
        if (done(value)) {
            return value;
        }
        if (Date.now() > deadline) {
            throw new Error(`${what} never happened; last answer: ${JSON.stringify(value)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
}

function statusBecomes(client, instanceId, status) {
    return until(
        `${instanceId} becoming ${status}`,
        () => client.getStatus(instanceId, { showInput: true }),
        (s) => s.runtimeStatus === status,
    );
}

// The client a function gets from its `durableClient` input, from the binding the host passes.
function clientFromBinding(binding) {
    const input = df.input.durableClient();
    const context = { options: { extraInputs: [input] }, extraInputs: { get: () => binding } };
    return df.getClient(context);
}

async function main() {
    const client = clientFromBinding(JSON.parse(process.env.DF_CLIENT_BINDING));
    const started = new Set();

    // startNew: the input arrives as the value the caller passed.
    const echo = await client.startNew("echo", { input: { timeout_secs: 3600 } });
    started.add(echo);
    let done = await statusBecomes(client, echo, S.Completed);
    expect(done.output, { timeout_secs: 3600 }, "echo output of an object input");
    expect(done.input, { timeout_secs: 3600 }, "status input");
    expect([done.name, done.instanceId], ["echo", echo], "status name and instance id");
    const text = await client.startNew("echo", { instanceId: "echo-text", input: "hello" });
    started.add(text);
    expect(text, "echo-text", "startNew with an instance id");
    done = await statusBecomes(client, text, S.Completed);
    expect(done.output, "hello", "echo output of a string input");

    // waitForCompletionOrCreateCheckStatusResponse (polls getStatus).
    const response = await client.waitForCompletionOrCreateCheckStatusResponse(
        { url: "http://127.0.0.1/api/start" },
        echo,
        { timeoutInMilliseconds: 10_000, retryIntervalInMilliseconds: 20 },
    );
    expect(response.status, 200, "waitForCompletion status code");
    expect(await response.json(), { timeout_secs: 3600 }, "waitForCompletion body");

    // suspend, resume, raiseEvent.
    const waiter = await client.startNew("wait_with_timeout", { instanceId: "waiter", input: 3600 });
    started.add(waiter);
    await statusBecomes(client, waiter, S.Running);
    await client.suspend(waiter, "maintenance window");
    await statusBecomes(client, waiter, S.Suspended);
    await client.resume(waiter, "maintenance over");
    await statusBecomes(client, waiter, S.Running);
    await client.raiseEvent(waiter, "x", { approved: true });
    done = await statusBecomes(client, waiter, S.Completed);
    expect(done.output, { event: { approved: true } }, "event data as raised");

    // terminate.
    const stopped = await client.startNew("wait_for_go", { instanceId: "stopped", input: 0 });
    started.add(stopped);
    await statusBecomes(client, stopped, S.Running);
    await client.terminate(stopped, "not needed");
    await statusBecomes(client, stopped, S.Terminated);

    // rewind: `needs_flag` fails until the flag file exists.
    const flagged = await client.startNew("needs_flag", { instanceId: "flagged" });
    started.add(flagged);
    await statusBecomes(client, flagged, S.Failed);
    fs.writeFileSync(process.env.DF_FLAG_FILE, "raised\n");
    await client.rewind(flagged, "flag raised");
    done = await statusBecomes(client, flagged, S.Completed);
    expect(done.output, [10, "raised"], "rewound output");

    // getStatusAll, getStatusBy (GET instances/?..., following x-ms-continuation-token).
    const ids = (statuses) => new Set(statuses.map((s) => s.instanceId));
    expect(ids(await client.getStatusAll()), started, "getStatusAll instance ids");
    const terminated = await client.getStatusBy({ runtimeStatus: [S.Terminated] });
    expect(terminated.map((s) => s.instanceId), [stopped], "getStatusBy runtime status");
    const hour = 3600_000;
    const later = await client.getStatusBy({ createdTimeFrom: new Date(Date.now() + hour) });
    expect(later, [], "getStatusBy created after now");
    const window = await client.getStatusBy({
        createdTimeFrom: new Date(Date.now() - hour),
        createdTimeTo: new Date(Date.now() + hour),
        runtimeStatus: [S.Completed, S.Terminated],
    });
    expect(ids(window), started, "getStatusBy time window");

    // signalEntity, readEntityState.
    const hoard = new df.EntityId("hoard", "js");
    await client.signalEntity(hoard, "append", 3);
    await client.signalEntity(hoard, "append", 2);
    const state = await until(
        "hoard@js holding 5",
        () => client.readEntityState(hoard),
        (r) => r.entityExists && r.entityState === "xxxxx",
    );
    expect(state.entityState, "xxxxx", "entity state after two signals");
    const nobody = await client.readEntityState(new df.EntityId("hoard", "nobody"));
    expect(nobody.entityExists, false, "an entity without state");

    // purgeInstanceHistory, purgeInstanceHistoryBy (DELETE instances/?...).
    expect(await client.purgeInstanceHistory(stopped), { instancesDeleted: 1 }, "purge one");
    await assert.rejects(client.getStatus(stopped), /404/, "status of a purged instance");
    console.log("ok: status of a purged instance");
    expect(
        (await client.purgeInstanceHistory(stopped)).instancesDeleted,
        0,
        "purge of an unknown instance",
    );
    const purged = await client.purgeInstanceHistoryBy({
        createdTimeFrom: new Date(0),
        runtimeStatus: [S.Completed],
    });
    expect(purged, { instancesDeleted: started.size - 1 }, "purge by filter");
    expect(await client.getStatusAll(), [], "instances left after purging");
    console.log("js client: every method passed");
}

main().catch((error) => {
    console.error(`FAIL: ${error.stack || error}`);
    process.exit(1);
});
