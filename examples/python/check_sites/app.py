"""Outbound HTTP from activities in Python: the orchestrator `check_sites` fans out one
`check_site` activity per URL and returns what each answered. The activity makes its request
itself with `durable.http.fetch`, which goes out through wasi:http, so the operator decides where
it may go:

    durable build examples/python/check_sites -o check_sites_py.wasm
    durable serve --component check_sites_py.wasm --allow-http example.com

A URL the operator did not allow, or one that does not answer, is reported for that site
(`error`) rather than failing the whole check.
"""

import durable

app = durable.App()


@app.orchestrator
def check_sites(context: durable.DurableOrchestrationContext):
    checks = [context.call_activity("check_site", url) for url in context.get_input()]
    return (yield context.task_all(checks))


@app.activity
def check_site(url: str) -> dict:
    """GETs `url` (5 s for the response to start) and reports its status and size, or why it
    failed."""
    try:
        response = durable.http.fetch(url, timeout=5)
    except durable.http.HttpError as error:
        return {"url": url, "status": None, "bytes": None, "error": str(error)}
    return {"url": url, "status": response.status, "bytes": len(response.body), "error": None}
