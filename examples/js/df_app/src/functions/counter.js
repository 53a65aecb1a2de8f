// A counter entity and an orchestration that calls it, in the same Durable Functions style.
const df = require('durable-functions');

df.app.entity('counter', (context) => {
    const current = context.df.getState(() => 0);
    switch (context.df.operationName) {
        case 'add':
            context.df.setState(current + context.df.getInput());
            break;
        case 'reset':
            context.df.setState(0);
            break;
        case 'get':
            context.df.return(current);
            break;
    }
});

df.app.orchestration('counterOrchestrator', function* (context) {
    const id = new df.EntityId('counter', context.df.instanceId);
    yield context.df.callEntity(id, 'add', 5);
    yield context.df.callEntity(id, 'add', 2);
    return yield context.df.callEntity(id, 'get');
});
