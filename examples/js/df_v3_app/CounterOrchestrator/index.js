// An orchestration driving the Counter entity: two one-way signals, then a call that waits for
// the count.
const df = require("durable-functions");

module.exports = df.orchestrator(function* (context) {
    const counter = new df.EntityId("Counter", context.df.instanceId);
    context.df.signalEntity(counter, "increment", 4);
    context.df.signalEntity(counter, "increment", 3);
    const count = yield context.df.callEntity(counter, "get");
    return count;
});
