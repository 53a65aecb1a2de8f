// The HTTP starter: starts the orchestrator the route names and answers with the status URLs.
// `durable build` leaves it out, for `durable serve` answers the same HTTP API itself.
const df = require("durable-functions");

module.exports = async function (context, req) {
    const client = df.getClient(context);
    const instanceId = await client.startNew(req.params.functionName, undefined, req.body);
    context.log(`Started orchestration with ID = '${instanceId}'.`);
    return client.createCheckStatusResponse(context.bindingData.req, instanceId);
};
