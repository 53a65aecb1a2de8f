// The other Durable Functions patterns, in the same style: fan-out/fan-in, human interaction
// with a timeout, a monitor, retry and sub-orchestrations.
const df = require('durable-functions');

df.app.orchestration('fanOutFanIn', function* (context) {
    const count = context.df.getInput() || 5;
    const workItems = yield context.df.callActivity('getWorkItems', count);
    const tasks = workItems.map((item) => context.df.callActivity('processItem', item));
    const results = yield context.df.Task.all(tasks);
    return results.reduce((sum, value) => sum + value, 0);
});

df.app.activity('getWorkItems', {
    handler: (count) => Array.from({ length: count }, (_, i) => i + 1),
});

df.app.activity('processItem', {
    handler: (item) => item * 2,
});

df.app.orchestration('approvalOrchestrator', function* (context) {
    const deadline = new Date(context.df.currentUtcDateTime.getTime() + 60 * 60 * 1000);
    const timeoutTask = context.df.createTimer(deadline);
    const approvalTask = context.df.waitForExternalEvent('Approval');
    const winner = yield context.df.Task.any([approvalTask, timeoutTask]);
    if (winner === approvalTask) {
        timeoutTask.cancel();
        return approvalTask.result ? 'approved' : 'rejected';
    }
    return 'escalated';
});

df.app.orchestration('monitorOrchestrator', function* (context) {
    let check = 0;
    for (;;) {
        check += 1;
        const status = yield context.df.callActivity('jobStatus', check);
        if (status === 'done') {
            return `done after ${check} checks`;
        }
        context.df.setCustomStatus({ checks: check });
        yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime()));
    }
});

df.app.activity('jobStatus', {
    handler: (check) => (check >= 3 ? 'done' : 'running'),
});

df.app.orchestration('retryOrchestrator', function* (context) {
    const retryOptions = new df.RetryOptions(100, 3);
    return yield context.df.callActivityWithRetry('parseNumber', retryOptions, '42');
});

df.app.activity('parseNumber', {
    handler: (text) => Number.parseInt(text, 10),
});

df.app.orchestration('parentOrchestrator', function* (context) {
    const children = [2, 3].map((count) => context.df.callSubOrchestrator('fanOutFanIn', count));
    return yield context.df.Task.all(children);
});
