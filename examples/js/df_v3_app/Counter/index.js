// A counter entity: one operation per call, its state kept between calls.
const df = require("durable-functions");

module.exports = df.entity(function (context) {
    let count = context.df.getState(() => 0);
    switch (context.df.operationName) {
        case "increment":
            count += context.df.getInput() ?? 1;
            context.df.setState(count);
            break;
        case "reset":
            context.df.setState(0);
            break;
        case "get":
            context.df.return(count);
            break;
        default:
            throw new Error(`unknown operation ${context.df.operationName}`);
    }
});
