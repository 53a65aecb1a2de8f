// Outbound HTTP from activities in JavaScript: the orchestrator `check_sites` fans out one
// `check_site` activity per URL and returns what each answered. The activity is `async` and
// uses the global `fetch`, which goes out through wasi:http, so the operator decides where it
// may go:
//
//   durable build examples/js/check_sites -o check_sites_js.wasm
//   durable serve --component check_sites_js.wasm --allow-http example.com
//
// A URL the operator did not allow, or one that does not answer, is reported for that site
// (`error`) rather than failing the whole check.
import * as df from 'durable';

df.app.orchestration('check_sites', function* (context) {
  const urls = context.df.getInput();
  return yield context.df.Task.all(urls.map((url) => context.df.callActivity('check_site', url)));
});

df.app.activity('check_site', async (url) => {
  try {
    const response = await fetch(url);
    const body = await response.arrayBuffer();
    return { url, status: response.status, bytes: body.byteLength, error: null };
  } catch (error) {
    return { url, status: null, bytes: null, error: String(error.message ?? error) };
  }
});
