// Code shared by several functions, outside the function folders.
function greet(city) {
    return `Hello ${city}!`;
}

module.exports = { greet };
