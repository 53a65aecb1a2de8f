module.exports = async function (context, item) {
    context.log(`processing item ${item}`);
    return item * item;
};
