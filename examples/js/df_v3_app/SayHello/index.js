// An activity: its input arrives as the binding named in function.json (`city`).
const { greet } = require("../lib/greeting");

module.exports = async function (context) {
    return greet(context.bindings.city);
};
