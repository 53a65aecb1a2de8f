// A Durable Functions app as it is written for Azure Functions in programming model v3: one
// folder per function, each with a function.json and an index.js. `durable build
// examples/js/df_v3_app` builds it unchanged: every orchestrator, activity and entity is
// registered under its folder's name, `durable-functions` resolves to durable's SDK, and the
// HttpStart folder is left out, for `durable serve` answers the same HTTP API itself.
//
// Function chaining: three activities, one after the other, each result kept in order.
const df = require("durable-functions");

module.exports = df.orchestrator(function* (context) {
    const greetings = [];
    for (const city of ["Tokyo", "Seattle", "London"]) {
        greetings.push(yield context.df.callActivity("SayHello", city));
    }
    if (!context.df.isReplaying) {
        context.log.info(`${context.df.instanceId}: greeted ${greetings.length} cities`);
    }
    return greetings;
});
