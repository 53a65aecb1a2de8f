// Fan-out/fan-in: one activity lists the work, one activity per item runs in parallel, and the
// orchestrator adds up what they return.
const df = require("durable-functions");

module.exports = df.orchestrator(function* (context) {
    const size = context.df.getInput() || 5;
    const items = yield context.df.callActivity("GetWorkItems", size);

    const parallelTasks = items.map((item) => context.df.callActivity("ProcessItem", item));
    const results = yield context.df.Task.all(parallelTasks);

    context.df.setCustomStatus({ processed: results.length });
    return results.reduce((total, value) => total + value, 0);
});
