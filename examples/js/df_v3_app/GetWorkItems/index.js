// An activity in the callback style: the input is the second argument, the result goes to
// context.done.
module.exports = function (context, size) {
    const items = [];
    for (let i = 1; i <= size; i++) {
        items.push(i);
    }
    context.done(null, items);
};
