// The durable dashboard: a dependency-free single-page app over the same HTTP API the CLI and
// the Durable Functions clients use. Everything the server sends is user data (ids, names,
// payloads, log lines), so the DOM is only ever built with createElement/textContent.

// ===================================================================================== constants

const B = '/runtime/webhooks/durabletask';
const KEY_STORAGE = 'durable.key';
const CONTINUATION = 'x-ms-continuation-token';
const POLL_MS = 2000;
const PAGE_SIZE = 50;
const STATUSES = ['Pending', 'Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled',
  'Terminated', 'Suspended'];
// Statuses the instance can still move on from: the views keep polling these.
const UNFINISHED = new Set(['Pending', 'Running', 'Suspended', 'ContinuedAsNew']);
const FINISHED = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

// ===================================================================================== DOM helpers

const $ = (selector, root = document) => root.querySelector(selector);

/** createElement with properties and children; strings become text nodes, never markup. */
function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (typeof value === 'boolean' || key === 'value') node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const enc = encodeURIComponent;
const instanceHref = (id) => `#/instances/${enc(id)}`;
// ':' and ',' need no escaping in a fragment's query: digest and status lists stay readable
// in the status bar and when a link is copied.
const queryValue = (value) => enc(value).replace(/%3A/gi, ':').replace(/%2C/gi, ',');
/** The instances running on one deployment, optionally only those in the given statuses. */
const digestInstancesHref = (digest, status) =>
  `#/instances?digest=${queryValue(digest)}${status ? `&status=${queryValue(status)}` : ''}`;
const shortDigest = (digest) => (digest ?? '').slice(0, 19); // sha256: and 12 hex digits
const link = (href, text, props = {}) => h('a', { href, ...props }, text);

function badge(status, props = {}) {
  return h('span', { class: `badge status-${status}`, ...props }, status);
}

// ===================================================================================== formatting

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** ISO strings and ms numbers to ms; null for anything else. */
function toMs(value) {
  if (value == null || value === '') return null;
  const ms = typeof value === 'number' ? value : Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

/** Local time, compact and sortable: 2026-12-04 15:42:07.123. */
function fmtTime(value, { date = true } = {}) {
  const ms = toMs(value);
  if (ms == null) return '—';
  const d = new Date(ms);
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return date ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}` : clock;
}

function fmtDuration(ms) {
  if (ms == null || !Number.isFinite(ms)) return '';
  ms = Math.max(0, ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ${Math.floor(s % 60)} s`;
  const hours = Math.floor(min / 60);
  if (hours < 24) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

function fmtRelative(ms, now = Date.now()) {
  const diff = now - ms;
  const abs = Math.abs(diff);
  if (abs < 1000) return 'just now';
  const s = abs / 1000;
  const text = s < 60 ? `${Math.floor(s)} s` : s < 3600 ? `${Math.floor(s / 60)} min`
    : s < 86400 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 86400)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** A time with a relative hint that the ticker below keeps current without re-rendering. */
function timeCell(value, { relative = true } = {}) {
  const ms = toMs(value);
  if (ms == null) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'time', title: new Date(ms).toISOString() },
    h('span', { class: 'mono' }, fmtTime(ms)),
    relative && h('span', { class: 'rel', dataset: { ts: String(ms) } }, fmtRelative(ms)));
}

function tickRelativeTimes() {
  const now = Date.now();
  for (const node of document.querySelectorAll('.rel[data-ts]')) {
    node.textContent = fmtRelative(Number(node.dataset.ts), now);
  }
  // The running time of what is still running grows without anything being re-rendered.
  for (const node of document.querySelectorAll('.elapsed[data-since]')) {
    node.textContent = fmtDuration(now - Number(node.dataset.since));
  }
}

/** JSON text inside a JSON value (failure details, entity results) shown as the JSON it holds. */
function unwrapJson(value) {
  if (typeof value !== 'string') return value;
  try { return JSON.parse(value); } catch { return value; }
}

const pretty = (value) => (value === undefined ? 'undefined' : JSON.stringify(value, null, 2));

/** One line for tables: strings as they are, everything else as compact JSON. */
function compact(value, max = 120) {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function jsonPre(value, props = {}) {
  return h('pre', { class: `json${value == null ? ' null' : ''}`, ...props }, pretty(value ?? null));
}

// ===================================================================================== API access

class AuthError extends Error {}

/**
 * Calls the API under B. Adds the key, parses JSON, turns 401 into the login form and any other
 * failure into an Error carrying the server's own message. Resolves to { status, headers, data }.
 */
async function api(path, options = {}) {
  const headers = { Accept: 'application/json', ...(options.headers ?? {}) };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers['x-functions-key'] = key;
  let body = options.body;
  if (Object.hasOwn(options, 'json')) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  let response;
  try {
    response = await fetch(B + path, { method: options.method ?? 'GET', headers, body, cache: 'no-store' });
  } catch (error) {
    throw new Error(`Cannot reach the server: ${error.message}`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (response.status === 401) {
    onUnauthorized();
    throw new AuthError('unauthorized');
  }
  if (!response.ok) {
    // The server answers {"error": code, "message": text}; older shapes only have "error".
    const message = (data && typeof data === 'object' && (data.message || data.Message || data.error))
      || (typeof data === 'string' && data.trim()) || response.statusText || 'request failed';
    const error = new Error(`${message} (HTTP ${response.status})`);
    error.status = response.status;
    throw error;
  }
  return { status: response.status, headers: response.headers, data };
}

/** One page of a list endpoint that pages with the continuation header. */
async function fetchPage(path, token) {
  const response = await api(path, { headers: token ? { [CONTINUATION]: token } : {} });
  return { rows: Array.isArray(response.data) ? response.data : [], next: response.headers.get(CONTINUATION) };
}

// ===================================================================================== banner, toast, dialog

let errorSource = null;

/** source 'refresh' errors clear themselves when a later refresh works; others stay until dismissed. */
function showError(message, source = 'action') {
  const banner = $('#error');
  banner.textContent = message;
  banner.hidden = false;
  errorSource = source;
  if (source === 'refresh') liveState.failing = true;
  updateLive();
}

function clearError(source) {
  if (source === 'refresh') liveState.failing = false;
  if (source && errorSource !== source) return;
  $('#error').hidden = true;
  $('#error').textContent = '';
  errorSource = null;
}

function reportError(error, source) {
  if (error instanceof AuthError) return; // the login form is already showing
  showError(error.message, source);
}

let toastTimer = null;
function toast(message) {
  const node = $('#toast');
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 3500);
}

/**
 * A modal confirmation (window.confirm cannot be styled, tested or given a reason field).
 * Resolves to { reason } on OK and null on cancel.
 */
function confirmDialog({ title, message, okLabel = 'OK', danger = false, reason = false }) {
  const backdrop = $('#confirm');
  const ok = $('#confirm-ok');
  const cancel = $('#confirm-cancel');
  const input = $('#confirm-reason');
  $('#confirm-title').textContent = title;
  $('#confirm-message').textContent = message;
  $('#confirm-reason-row').hidden = !reason;
  input.value = '';
  ok.textContent = okLabel;
  ok.classList.toggle('danger', danger);
  const previousFocus = document.activeElement;
  backdrop.hidden = false;
  (reason ? input : ok).focus();
  return new Promise((resolve) => {
    const finish = (result) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      document.removeEventListener('keydown', onKey, true);
      backdrop.removeEventListener('mousedown', onBackdrop);
      backdrop.hidden = true;
      previousFocus?.focus?.();
      resolve(result);
    };
    const onOk = () => finish({ reason: input.value.trim() });
    const onCancel = () => finish(null);
    const onKey = (event) => {
      // preventDefault: focus returns to the button that opened the dialog, and an Enter
      // left to its default action would click that button again.
      if (event.key === 'Escape') { event.preventDefault(); onCancel(); }
      else if (event.key === 'Enter' && event.target === input) { event.preventDefault(); onOk(); }
    };
    const onBackdrop = (event) => { if (event.target === backdrop) onCancel(); };
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    document.addEventListener('keydown', onKey, true);
    backdrop.addEventListener('mousedown', onBackdrop);
  });
}

// ===================================================================================== login

let authLocked = false;

function onUnauthorized() {
  // A key that was in use and is refused now (wrong, or rotated on the server) is dropped.
  const hadKey = Boolean(sessionStorage.getItem(KEY_STORAGE));
  sessionStorage.removeItem(KEY_STORAGE);
  showLogin(hadKey ? 'That key was not accepted' : '');
}

function showLogin(message) {
  authLocked = true;
  stopView();
  clearError();
  $('#view').hidden = true;
  $('#login').hidden = false;
  $('#login-message').textContent = message;
  updateSignOut();
  updateLive();
  $('#login-key').focus();
}

function hideLogin() {
  authLocked = false;
  $('#login').hidden = true;
  $('#login-message').textContent = '';
  $('#view').hidden = false;
  updateSignOut();
}

/** Whether the API answers with the current key (or none); shows the login form when not. */
async function probe() {
  try {
    await api('/instances?top=1');
    return true;
  } catch (error) {
    if (error instanceof AuthError) return false;
    showError(error.message, 'refresh'); // not an auth problem: let the views show what they can
    return true;
  }
}

async function submitLogin(event) {
  event.preventDefault();
  const key = $('#login-key').value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  $('#login-submit').disabled = true;
  try {
    if (await probe()) {
      $('#login-key').value = '';
      hideLogin();
      route();
    }
  } finally {
    $('#login-submit').disabled = false;
  }
}

async function signOut(event) {
  event.preventDefault();
  sessionStorage.removeItem(KEY_STORAGE);
  updateSignOut();
  stopView();
  if (await probe()) { hideLogin(); route(); }
}

function updateSignOut() {
  $('#sign-out').hidden = !sessionStorage.getItem(KEY_STORAGE) || authLocked;
}

// ===================================================================================== routing and polling

let current = null; // the mounted view: { stopped, isLive(), refresh(), stop?() }
const liveState = { timer: null, busy: false, failing: false };

function parseRoute() {
  const raw = location.hash.replace(/^#/, '') || '/instances';
  const cut = raw.indexOf('?');
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const query = new URLSearchParams(cut < 0 ? '' : raw.slice(cut + 1));
  const parts = path.split('/').filter(Boolean).map((part) => {
    try { return decodeURIComponent(part); } catch { return part; }
  });
  if (parts[0] === 'entities') return { name: 'entities', section: 'entities', query };
  if (parts[0] === 'deployments') return { name: 'deployments', section: 'deployments', query };
  if (parts[0] === 'instances' && parts.length >= 2) {
    const replay = parts.length === 3 && parts[2] === 'replay';
    return { name: replay ? 'replay' : 'instance', section: 'instances', id: parts[1], query };
  }
  return { name: 'instances', section: 'instances', query };
}

const VIEWS = {
  instances: instancesView,
  instance: instanceView,
  replay: replayView,
  entities: entitiesView,
  deployments: deploymentsView,
};

function route() {
  if (authLocked) return;
  const target = parseRoute();
  stopView();
  clearError();
  liveState.failing = false;
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === target.section);
  }
  document.title = `${target.section} · durable`;
  const root = $('#view');
  root.replaceChildren();
  window.scrollTo(0, 0);
  current = VIEWS[target.name](root, target);
  updateLive();
}

function stopView() {
  if (!current) return;
  current.stopped = true;
  current.stop?.();
  current = null;
}

/** One loop for all views: refresh the mounted one every 2 s while the tab is visible. */
async function pollOnce() {
  if (liveState.busy) return; // the poll in flight schedules the next one
  liveState.busy = true;
  try {
    const view = current;
    if (view && !authLocked && document.visibilityState === 'visible' && view.isLive()) await view.refresh();
  } finally {
    liveState.busy = false;
  }
  updateLive();
  schedulePoll();
}

/** At most one pending timer, whoever calls. */
function schedulePoll() {
  clearTimeout(liveState.timer);
  liveState.timer = setTimeout(pollOnce, POLL_MS);
}

function updateLive() {
  const indicator = $('#live');
  const live = Boolean(current && !authLocked && current.isLive());
  indicator.hidden = !live;
  indicator.classList.toggle('paused', document.visibilityState !== 'visible');
  indicator.classList.toggle('failing', liveState.failing);
}

// ===================================================================================== paging

/** Previous/next over continuation tokens: a stack of the tokens that led to each page. */
function createPager(onChange) {
  const state = { tokens: [null], next: null };
  const prev = h('button', { id: 'prev-page', type: 'button', disabled: true }, '‹ Previous');
  const label = h('span', { id: 'page-label', class: 'page-label' }, 'page 1');
  const next = h('button', { id: 'next-page', type: 'button', disabled: true }, 'Next ›');
  const sync = () => {
    prev.disabled = state.tokens.length <= 1;
    next.disabled = !state.next;
    label.textContent = `page ${state.tokens.length}`;
  };
  prev.addEventListener('click', () => {
    if (state.tokens.length > 1) { state.tokens.pop(); state.next = null; sync(); onChange(); }
  });
  next.addEventListener('click', () => {
    if (state.next) { state.tokens.push(state.next); state.next = null; sync(); onChange(); }
  });
  return {
    el: h('div', { class: 'pager' }, prev, label, next),
    token: () => state.tokens.at(-1),
    setNext(token) { state.next = token || null; sync(); },
  };
}

/** A paged, polled table: re-renders the body only when the rows changed (no flicker). */
function pagedTable(view, { columns, tableId, empty, pathFor, renderRow, afterRender }) {
  const tbody = h('tbody');
  const table = h('table', { id: tableId, class: 'grid' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))), tbody);
  let seq = 0;
  let lastKey = null;
  const refresh = async () => {
    const mine = ++seq; // a page change while a poll is in flight must win over the poll
    try {
      const { rows, next } = await fetchPage(pathFor(), pager.token());
      if (view.stopped || mine !== seq) return;
      clearError('refresh');
      pager.setNext(next);
      const key = JSON.stringify(rows);
      if (key === lastKey) return;
      lastKey = key;
      tbody.replaceChildren(...(rows.length ? rows.map(renderRow)
        : [h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, empty))]));
      afterRender?.();
    } catch (error) {
      if (!view.stopped && mine === seq) reportError(error, 'refresh');
    }
  };
  const pager = createPager(refresh);
  return { table: h('div', { class: 'table-wrap' }, table), tbody, pager, refresh };
}

// ===================================================================================== view: instances list

function instancesView(root, { query }) {
  const view = { stopped: false, isLive: () => true };
  const filters = {
    status: query.get('status') ?? '', name: query.get('name') ?? '',
    prefix: query.get('prefix') ?? '', from: query.get('from') ?? '', to: query.get('to') ?? '',
    digest: query.get('digest') ?? '',
  };
  const form = instanceFilterForm(filters, query);
  const list = pagedTable(view, {
    columns: ['Status', 'Name', 'Instance id', 'Created', 'Updated', 'Custom status'],
    tableId: 'instances',
    empty: 'No instances match.',
    pathFor: () => instancesPath(filters),
    renderRow: instanceRow,
  });
  list.tbody.addEventListener('click', (event) => {
    const row = event.target.closest('tr[data-instance-id]');
    // Links navigate themselves; a drag-select to copy an id must not navigate.
    if (!row || event.target.closest('a') || String(getSelection())) return;
    location.hash = instanceHref(row.dataset.instanceId);
  });
  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Instances'), list.pager.el),
    form, list.table);
  view.refresh = list.refresh;
  list.refresh();
  return view;
}

function instanceFilterForm(filters, query) {
  const statusSelect = h('select', { id: 'filter-status' },
    h('option', { value: '' }, 'All'), STATUSES.map((s) => h('option', { value: s }, s)));
  // A linked view may name several statuses (Running,Failed): keep it selectable as is.
  if (filters.status && !STATUSES.includes(filters.status)) {
    statusSelect.append(h('option', { value: filters.status }, filters.status));
  }
  statusSelect.value = filters.status;
  const field = (label, input) => h('label', { class: 'field' }, h('span', {}, label), input);
  const text = (id, value, placeholder) => h('input', { id, type: 'text', value, placeholder, spellcheck: 'false' });
  const form = h('form', { class: 'filters', id: 'instance-filters' },
    filters.digest && digestChip(filters.digest, query),
    field('Status', statusSelect),
    field('Orchestrator', text('filter-name', filters.name, 'exact name')),
    field('Instance id', text('filter-prefix', filters.prefix, 'id or prefix')),
    field('Created from', h('input', { id: 'filter-from', type: 'datetime-local', step: 1, value: filters.from })),
    field('Created to', h('input', { id: 'filter-to', type: 'datetime-local', step: 1, value: filters.to })),
    h('button', { id: 'filter-apply', type: 'submit', class: 'primary' }, 'Apply'),
    h('a', { href: '#/instances', class: 'clear-filters' }, 'Clear'));
  form.addEventListener('submit', (event) => { event.preventDefault(); applyInstanceFilters(filters.digest); });
  // Enter in a <select> does not submit a form by itself.
  statusSelect.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') { event.preventDefault(); applyInstanceFilters(filters.digest); }
  });
  return form;
}

/**
 * The deployment filter as a chip: a digest is followed from a link, never typed, so it has no
 * input; its × drops it and keeps the filters that were applied with it.
 */
function digestChip(digest, query) {
  const clear = h('button', { id: 'filter-digest-clear', type: 'button', class: 'chip-clear',
    title: 'Remove the deployment filter', 'aria-label': 'Remove the deployment filter' }, '×');
  clear.addEventListener('click', () => {
    const params = new URLSearchParams(query);
    params.delete('digest');
    navigateInstances(params);
  });
  return h('div', { class: 'field' }, h('span', {}, 'Deployment'),
    h('span', { id: 'filter-digest', class: 'chip filter-chip', title: digest, dataset: { digest } },
      shortDigest(digest), clear));
}

/** Puts the filters in the hash (linkable); the hash change re-mounts the list on page 1. */
function applyInstanceFilters(digest) {
  const params = new URLSearchParams();
  if (digest) params.set('digest', digest);
  const add = (name, id) => { const v = $(id).value.trim(); if (v) params.set(name, v); };
  add('status', '#filter-status');
  add('name', '#filter-name');
  add('prefix', '#filter-prefix');
  add('from', '#filter-from');
  add('to', '#filter-to');
  navigateInstances(params);
}

function navigateInstances(params) {
  const qs = [...params].map(([k, v]) => `${enc(k)}=${queryValue(v)}`).join('&');
  const hash = `#/instances${qs ? `?${qs}` : ''}`;
  if (location.hash === hash) route(); else location.hash = hash;
}

function instancesPath(filters) {
  // Newest first: what an operator looks for is usually what just happened.
  const params = new URLSearchParams({ top: String(PAGE_SIZE), showInput: 'false', newestFirst: 'true' });
  if (filters.status) params.set('runtimeStatus', filters.status);
  if (filters.name) params.set('name', filters.name);
  if (filters.prefix) params.set('instanceIdPrefix', filters.prefix);
  if (filters.digest) params.set('componentDigest', filters.digest);
  // datetime-local values are local wall-clock times; the API wants ISO 8601.
  for (const [key, param] of [['from', 'createdTimeFrom'], ['to', 'createdTimeTo']]) {
    const ms = toMs(filters[key]);
    if (ms != null) params.set(param, new Date(ms).toISOString());
  }
  return `/instances?${params}`;
}

function instanceRow(instance) {
  const failure = instance.failureDetails;
  const custom = instance.customStatus;
  return h('tr', { dataset: { instanceId: instance.instanceId } },
    h('td', { class: 'status' }, badge(instance.runtimeStatus,
      { title: failure ? `${failure.type}: ${failure.message}` : null })),
    h('td', { class: 'name' }, instance.name),
    h('td', { class: 'mono id' }, link(instanceHref(instance.instanceId), instance.instanceId),
      instance.parentInstanceId && h('span', { class: 'tag', title: `child of ${instance.parentInstanceId}` }, 'child')),
    h('td', { class: 'nowrap' }, timeCell(instance.createdTime, { relative: false })),
    h('td', { class: 'nowrap' }, timeCell(instance.lastUpdatedTime)),
    h('td', { class: 'mono custom', title: custom == null ? null : compact(custom, 2000) },
      custom == null ? '' : compact(custom, 80)));
}

// ===================================================================================== view: one instance

function instanceView(root, { id }) {
  const view = { stopped: false, id, status: null, gone: false, keys: {}, expanded: new Set(),
    // The sub-orchestration tree: children by parent id (an Error when unreadable) and the
    // child rows opened, both kept across refreshes.
    tree: { kids: new Map(), open: new Set() } };
  view.isLive = () => !view.gone && (view.status == null || UNFINISHED.has(view.status));
  let built = false;
  view.seq = 0;
  view.refresh = async () => {
    const path = `/instances/${enc(id)}`;
    const mine = ++view.seq; // an action's refresh and a poll may overlap: only the newest renders
    try {
      const [response, logs, kids] = await Promise.all([
        api(`${path}?showHistory=true&showHistoryOutput=true&showInput=true`),
        // Logs are secondary: their failure is shown in their panel, not instead of the page.
        api(`${path}/logs`).then((r) => r.data, (error) => error),
        // Fetched with the status, so the refresh that sees the instance finish also shows
        // its children's final state; the page stops polling after that one.
        fetchKids([id, ...openKids(view)]),
      ]);
      if (view.stopped || mine !== view.seq) return;
      clearError('refresh');
      if (!built) { buildInstancePage(root, view, id); built = true; }
      renderInstance(view, response.data);
      renderLogs(view, logs);
      storeKids(view, kids);
      renderTree(view);
      updateLive(); // the status may have just become final: the indicator goes at once
    } catch (error) {
      if (view.stopped || mine !== view.seq) return;
      if (error.status === 404) {
        view.gone = true;
        root.replaceChildren(h('div', { class: 'not-found', id: 'not-found' },
          h('h1', {}, 'No instance ', h('span', { class: 'mono' }, id)),
          h('p', {}, link('#/instances', '← All instances'))));
        return;
      }
      reportError(error, 'refresh');
    }
  };
  // Re-lay the Gantt bars every second while running: "now" moves even when history does not.
  const ticker = setInterval(() => { if (view.isLive() && view.timeline) layoutTimeline(view); }, 1000);
  view.stop = () => clearInterval(ticker);
  view.refresh();
  return view;
}

/** The page skeleton, built once so refreshes never wipe typed text or expanded rows. */
function buildInstancePage(root, view, id) {
  const panel = (title, body, props = {}) => h('section', { class: 'panel', ...props }, h('h2', {}, title), body);
  view.els = {
    name: h('h1', { id: 'instance-name' }),
    status: h('span', { id: 'instance-status', class: 'badge' }),
    meta: h('dl', { class: 'meta' }),
    custom: jsonPre(null, { id: 'instance-custom-status' }),
    input: jsonPre(null, { id: 'instance-input' }),
    output: jsonPre(null, { id: 'instance-output' }),
    failure: h('div', { id: 'instance-failure', class: 'failure' }),
    timeline: h('div', { id: 'timeline', class: 'timeline' }),
    history: h('tbody'),
    historyCount: h('span', { class: 'muted' }),
    logs: h('div', { id: 'instance-logs', class: 'logs' }),
  };
  const e = view.els;
  e.failurePanel = panel('Failure', e.failure, { class: 'panel failure-panel', hidden: true });
  e.breadcrumb = h('nav', { id: 'instance-breadcrumb', class: 'breadcrumb', 'aria-label': 'Parent instances', hidden: true });
  e.treeCount = h('span', { id: 'instance-children-count', class: 'muted' });
  e.tree = h('tbody');
  // Hidden, not left out, while there are no children: tests and links can always find it.
  e.children = h('section', { id: 'instance-children', class: 'panel children-panel', hidden: true },
    h('h2', {}, 'Sub-orchestrations ', e.treeCount),
    h('div', { class: 'table-wrap' }, h('table', { id: 'children-tree', class: 'grid tree' },
      h('thead', {}, h('tr', {}, ['Status', 'Name', 'Instance id', 'Created', 'Duration'].map((c) => h('th', {}, c)))),
      e.tree)));
  e.tree.addEventListener('click', (event) => onTreeClick(view, event));
  root.append(
    e.breadcrumb,
    h('div', { class: 'instance-head' },
      h('div', { class: 'title-row' }, e.name, e.status,
        h('span', { class: 'spacer' }),
        link(`${instanceHref(id)}/replay`, 'Replay view', { id: 'replay-link', class: 'button-link' })),
      e.meta),
    instanceActions(view, id),
    h('div', { class: 'panels' },
      panel('Custom status', e.custom), panel('Input', e.input), panel('Output', e.output)),
    e.failurePanel,
    e.children,
    panel('Timeline', e.timeline, { class: 'panel timeline-panel' }),
    h('section', { class: 'panel' }, h('details', { id: 'history-details' },
      h('summary', {}, h('h2', {}, 'History '), e.historyCount),
      h('div', { class: 'table-wrap' }, h('table', { id: 'history', class: 'grid history' },
        h('thead', {}, h('tr', {}, ['#', 'Time', 'Event', 'Id', 'Name', 'Details'].map((c) => h('th', {}, c)))),
        e.history)))),
    panel('Logs', e.logs));
}

/** Sets text only when it changed, so a selection inside a <pre> survives polling. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function changed(view, part, value) {
  const key = JSON.stringify(value) ?? '';
  if (view.keys[part] === key) return false;
  view.keys[part] = key;
  return true;
}

function renderInstance(view, s) {
  const e = view.els;
  view.status = s.runtimeStatus;
  setText(e.name, s.name ?? '');
  setText(e.status, s.runtimeStatus);
  e.status.className = `badge status-${s.runtimeStatus}`;
  document.title = `${s.name} · ${s.instanceId} · durable`;
  const events = Array.isArray(s.historyEvents) ? s.historyEvents : [];
  const version = events.find((ev) => ev.EventType === 'ExecutionStarted')?.Version;
  if (changed(view, 'meta', [s.instanceId, s.createdTime, s.lastUpdatedTime, s.componentDigest, s.parentInstanceId, version])) {
    e.meta.replaceChildren(...instanceMeta(s, events));
  }
  if (s.parentInstanceId && changed(view, 'parent', [s.parentInstanceId, s.name])) {
    loadParentChain(view, s.parentInstanceId, s.name);
  }
  setText(e.custom, pretty(s.customStatus ?? null));
  setText(e.input, pretty(s.input ?? null));
  setText(e.output, pretty(s.output ?? null));
  for (const pre of [e.custom, e.input, e.output]) pre.classList.toggle('null', pre.textContent === 'null');
  e.failurePanel.hidden = !s.failureDetails;
  if (changed(view, 'failure', s.failureDetails ?? null) && s.failureDetails) {
    e.failure.replaceChildren(...failureBlock(s.failureDetails));
  }
  updateActions(view);
  if (changed(view, 'history', events)) {
    view.timeline = buildTimeline(events);
    renderTimeline(view);
    renderHistory(view, events);
  }
  layoutTimeline(view);
}

function instanceMeta(s, events) {
  const started = events.find((ev) => ev.EventType === 'ExecutionStarted');
  const digest = s.componentDigest;
  const row = (label, ...value) => [h('dt', {}, label), h('dd', {}, ...value)];
  return [
    ...row('Instance id', h('span', { id: 'instance-id', class: 'mono' }, s.instanceId)),
    ...row('Created', timeCell(s.createdTime)),
    ...row('Updated', timeCell(s.lastUpdatedTime)),
    // The digest leads to the instances on the same code, what one asks about an instance's
    // deployment most; the deployment itself is one small link further.
    ...row('Deployment', digest
      ? [link(digestInstancesHref(digest), shortDigest(digest),
        { id: 'instance-digest', class: 'mono', title: `Instances on deployment ${digest}` }),
      ' ', link(`#/deployments?digest=${queryValue(digest)}`, 'deployment',
        { id: 'instance-deployment-link', class: 'small-link', title: 'This deployment on the Deployments page' })]
      : h('span', { class: 'muted' }, '—')),
    ...(started?.Version ? row('Version', h('span', { class: 'mono' }, started.Version)) : []),
    ...(s.parentInstanceId ? row('Parent', link(instanceHref(s.parentInstanceId), s.parentInstanceId,
      { id: 'instance-parent', class: 'mono' })) : []),
  ];
}

/** Type, message, details, stack and the inner chain, outermost first. */
function failureBlock(failure) {
  const inner = Array.isArray(failure.inner) ? failure.inner : [];
  return [
    h('div', { class: 'failure-head' },
      h('span', { class: 'failure-type mono' }, failure.type ?? 'Error'),
      failure.nonRetriable && h('span', { class: 'tag' }, 'non-retriable')),
    h('p', { class: 'failure-message' }, failure.message ?? ''),
    failure.details != null && h('div', {}, h('h3', {}, 'Details'), jsonPre(unwrapJson(failure.details))),
    failure.stack && h('div', {}, h('h3', {}, 'Stack'), h('pre', { class: 'stack' }, failure.stack)),
    inner.length > 0 && h('div', {}, h('h3', {}, 'Caused by'), h('ol', { class: 'inner-chain' },
      inner.map((cause) => h('li', {},
        h('span', { class: 'failure-type mono' }, cause.type ?? 'Error'), ' ', cause.message ?? '',
        cause.details != null && jsonPre(unwrapJson(cause.details)))))),
  ].filter(Boolean); // replaceChildren would print the falsy placeholders
}

// ----------------------------------------------------------------------- instance: parent chain

const MAX_ANCESTORS = 16;

/**
 * The ancestors above the header, root first, walked up one status read at a time. Shown as soon
 * as the direct parent is known; names fill in as they arrive. Read once: a parent never changes.
 */
async function loadParentChain(view, parentId, name) {
  const chain = [];
  const seen = new Set([view.id]); // a cycle would walk forever
  let id = parentId;
  while (id && !seen.has(id) && chain.length < MAX_ANCESTORS) {
    seen.add(id);
    const crumb = { id, name: null, missing: false };
    chain.unshift(crumb);
    renderBreadcrumb(view, chain, name);
    try {
      const { data } = await api(`/instances/${enc(id)}?showInput=false`);
      crumb.name = data?.name ?? null;
      id = data?.parentInstanceId ?? null;
    } catch (error) {
      if (error instanceof AuthError) return;
      // A purged ancestor ends the chain at its id: what was above it cannot be found.
      crumb.missing = true;
      id = null;
    }
    if (view.stopped) return;
  }
  if (id && !seen.has(id)) chain.unshift({ id, more: true });
  renderBreadcrumb(view, chain, name);
}

function renderBreadcrumb(view, chain, name) {
  const nav = view.els.breadcrumb;
  const sep = () => h('span', { class: 'crumb-sep', 'aria-hidden': 'true' }, '›');
  const crumb = (c) => link(instanceHref(c.id), c.more ? '…' : [
    c.name && h('span', { class: 'crumb-name' }, c.name),
    h('span', { class: 'mono crumb-id' }, c.id)],
  { class: `crumb${c.missing ? ' missing' : ''}`, dataset: { instanceId: c.id },
    title: c.more ? `further ancestors, from ${c.id}` : c.missing ? `${c.id} (not found)` : c.id });
  nav.replaceChildren(...chain.flatMap((c) => [crumb(c), sep()]),
    h('span', { class: 'crumb current', 'aria-current': 'page' },
      name && h('span', { class: 'crumb-name' }, name), h('span', { class: 'mono crumb-id' }, view.id)));
  nav.hidden = false;
}

// ----------------------------------------------------------------------- instance: sub-orchestrations

/** Children of each id, oldest first; per id an array or the Error that prevented reading it. */
async function fetchKids(ids) {
  return Promise.all(ids.map((id) => api(`/instances/${enc(id)}/children`).then(
    (r) => [id, Array.isArray(r.data) ? r.data : []],
    // 404: the instance is gone (purged), so it has no children to show.
    (error) => [id, error.status === 404 ? [] : error])));
}

function storeKids(view, results) {
  for (const [id, kids] of results) {
    // A failed re-read keeps the rows already shown rather than blanking them until the next
    // poll; only what was never read shows the error.
    if (kids instanceof Error && Array.isArray(view.tree.kids.get(id))) continue;
    view.tree.kids.set(id, kids);
  }
}

/**
 * The opened rows that are on screen (every ancestor open too), top down: their children are
 * what a refresh reads again. Rows opened under a closed one keep their state but cost nothing.
 */
function openKids(view, from = view.id, path = new Set([view.id])) {
  const ids = [];
  const kids = view.tree.kids.get(from);
  if (!Array.isArray(kids)) return ids;
  for (const child of kids) {
    const id = child.instanceId;
    if (!view.tree.open.has(id) || path.has(id) || isLeaf(view, child)) continue;
    ids.push(id, ...openKids(view, id, new Set([...path, id])));
  }
  return ids;
}

/** A row that cannot grow children: it has none and is finished. Its toggle goes. */
function isLeaf(view, child) {
  const kids = view.tree.kids.get(child.instanceId);
  return Array.isArray(kids) && kids.length === 0 && FINISHED.has(child.runtimeStatus);
}

function renderTree(view) {
  const { els: e, tree } = view;
  const root = tree.kids.get(view.id);
  const count = Array.isArray(root) ? root.length : 0;
  e.children.hidden = count === 0 && !(root instanceof Error);
  if (!changed(view, 'tree', [[...tree.kids].map(([id, kids]) => [id, kids instanceof Error ? kids.message : kids]), [...tree.open]])) return;
  setText(e.treeCount, root instanceof Error ? '' : `(${count})`);
  // Rebuilding replaces the toggles: keep the keyboard where it was.
  const focused = document.activeElement?.closest?.('.tree-toggle')?.closest('tr')?.dataset.instanceId;
  e.tree.replaceChildren(...treeRows(view, view.id, 0, new Set([view.id])));
  if (focused) $(`tr[data-instance-id="${CSS.escape(focused)}"] .tree-toggle`, e.tree)?.focus();
}

function treeRows(view, parentId, depth, path) {
  const kids = view.tree.kids.get(parentId);
  if (kids === undefined) return [treeNote(depth, 'Loading…')];
  if (kids instanceof Error) {
    if (kids instanceof AuthError) return [];
    return [treeNote(depth, `Sub-orchestrations could not be read: ${kids.message}`, 'inline-error')];
  }
  if (!kids.length) return depth === 0 ? [] : [treeNote(depth, 'No sub-orchestrations yet.')];
  return kids.flatMap((child) => {
    const id = child.instanceId;
    // An id already on the path would nest itself forever.
    const open = view.tree.open.has(id) && !path.has(id) && !isLeaf(view, child);
    return [treeRow(view, child, parentId, depth, open),
      ...(open ? treeRows(view, id, depth + 1, new Set([...path, id])) : [])];
  });
}

function treeRow(view, child, parentId, depth, open) {
  const id = child.instanceId;
  const created = toMs(child.createdTime);
  const running = UNFINISHED.has(child.runtimeStatus);
  const toggle = isLeaf(view, child)
    ? h('span', { class: 'tree-leaf', title: 'No sub-orchestrations' })
    : h('button', { type: 'button', class: 'tree-toggle', 'aria-expanded': String(open),
      'aria-label': `${open ? 'Hide' : 'Show'} the sub-orchestrations of ${id}` }, open ? '▾' : '▸');
  const failure = child.failureDetails;
  let duration = '';
  if (created != null && running) {
    duration = h('span', { class: 'elapsed', title: 'running for', dataset: { since: String(created) } },
      fmtDuration(Date.now() - created));
  } else if (created != null) {
    duration = fmtDuration((toMs(child.lastUpdatedTime) ?? created) - created);
  }
  return h('tr', { class: 'tree-row',
    dataset: { instanceId: id, parentInstanceId: parentId, depth: String(depth) } },
    h('td', { class: 'tree-cell nowrap', style: `--depth:${depth}` }, toggle,
      badge(child.runtimeStatus, { class: `badge status status-${child.runtimeStatus}`,
        title: failure ? `${failure.type}: ${failure.message}` : null })),
    h('td', { class: 'name' }, child.name ?? ''),
    h('td', { class: 'mono id' }, link(instanceHref(id), id)),
    h('td', { class: 'nowrap' }, timeCell(child.createdTime, { relative: false })),
    h('td', { class: 'num nowrap duration' }, duration));
}

function treeNote(depth, text, className = 'muted') {
  return h('tr', { class: 'tree-note' },
    h('td', { colspan: 5, class: `tree-cell ${className}`, style: `--depth:${depth + 1}` }, text));
}

/** Toggles open and shut; children are read on opening (and kept fresh while the page polls). */
async function onTreeClick(view, event) {
  const row = event.target.closest('tr[data-instance-id]');
  if (!row) return;
  const id = row.dataset.instanceId;
  if (!event.target.closest('.tree-toggle')) {
    // Like the instances list: the row opens the instance; links and drag-selects do their own.
    if (!event.target.closest('a') && !String(getSelection())) location.hash = instanceHref(id);
    return;
  }
  const { open } = view.tree;
  if (open.has(id)) { open.delete(id); renderTree(view); return; }
  open.add(id);
  renderTree(view); // open at once: cached rows, or "Loading…"
  // This row and the rows opened earlier below it, which come back into view with it.
  const ids = [id, ...openKids(view, id, new Set([view.id, id]))];
  const results = await fetchKids(ids);
  if (view.stopped) return;
  storeKids(view, results);
  renderTree(view);
}

// ----------------------------------------------------------------------- instance: actions

const ACTIONS = [
  { name: 'terminate', label: 'Terminate', danger: true, reason: true, done: 'Termination requested',
    // A suspended instance can be terminated too: the host handles terminate before suspension.
    enabled: (s) => ['Running', 'Pending', 'Suspended'].includes(s),
    message: (id) => `Terminate instance ${id}? It stops at once and cannot be resumed.` },
  { name: 'suspend', label: 'Suspend', reason: true, done: 'Suspend requested',
    enabled: (s) => ['Running', 'Pending'].includes(s),
    message: (id) => `Suspend instance ${id}? Its events wait until it is resumed.` },
  { name: 'resume', label: 'Resume', reason: true, done: 'Resume requested',
    enabled: (s) => s === 'Suspended', message: (id) => `Resume instance ${id}?` },
  { name: 'rewind', label: 'Rewind', reason: true, done: 'Rewind requested',
    enabled: (s) => s === 'Failed',
    message: (id) => `Rewind instance ${id}? The failures that ended it are undone and it runs again.` },
  { name: 'restart', label: 'Restart', done: 'Restarted', enabled: () => true,
    message: (id) => `Start a new instance with the same orchestrator and input as ${id}?` },
  { name: 'purge', label: 'Purge', danger: true, done: 'Instance purged',
    enabled: (s) => FINISHED.has(s),
    message: (id) => `Delete instance ${id} and everything stored for it? This cannot be undone.` },
];

function instanceActions(view, id) {
  view.buttons = {};
  const buttons = ACTIONS.map((action) => {
    const button = h('button', { id: `action-${action.name}`, type: 'button', disabled: true,
      class: action.danger ? 'danger-outline' : null }, action.label);
    button.addEventListener('click', () => runAction(view, id, action));
    view.buttons[action.name] = button;
    return button;
  });
  view.raise = {
    name: h('input', { id: 'raise-name', type: 'text', placeholder: 'event name', spellcheck: 'false' }),
    data: h('textarea', { id: 'raise-data', rows: 1, placeholder: 'JSON data (empty: null)', spellcheck: 'false' }),
    submit: h('button', { id: 'raise-submit', type: 'submit', class: 'primary' }, 'Raise event'),
    error: h('span', { id: 'raise-error', class: 'inline-error', role: 'alert' }),
  };
  const r = view.raise;
  const form = h('form', { class: 'raise-form', id: 'raise-form' }, r.name, r.data, r.submit, r.error);
  form.addEventListener('submit', (event) => { event.preventDefault(); raiseEvent(view, id); });
  return h('div', { class: 'actions' }, h('div', { class: 'action-buttons' }, buttons), form);
}

function updateActions(view) {
  for (const action of ACTIONS) view.buttons[action.name].disabled = !action.enabled(view.status);
  // Raising an event on a finished instance is refused (410): say so by disabling the button.
  view.raise.submit.disabled = !UNFINISHED.has(view.status);
}

async function runAction(view, id, action) {
  const answer = await confirmDialog({ title: `${action.label} instance`, message: action.message(id),
    okLabel: action.label, danger: action.danger, reason: action.reason });
  if (!answer || view.stopped) return;
  const base = `/instances/${enc(id)}`;
  const reason = answer.reason ? `?reason=${enc(answer.reason)}` : '';
  try {
    if (action.name === 'purge') {
      await api(base, { method: 'DELETE' });
      toast(action.done);
      location.hash = '#/instances';
      return;
    }
    const response = await api(`${base}/${action.name}${action.reason ? reason : ''}`, { method: 'POST' });
    toast(action.done);
    const newId = action.name === 'restart' && response.data?.id;
    if (newId && newId !== id) { location.hash = instanceHref(newId); return; }
    await view.refresh();
  } catch (error) {
    reportError(error, 'action');
  }
}

async function raiseEvent(view, id) {
  const r = view.raise;
  r.error.textContent = '';
  r.data.classList.remove('invalid');
  const name = r.name.value.trim();
  if (!name) { r.error.textContent = 'Give the event a name.'; r.name.focus(); return; }
  let data = null;
  if (r.data.value.trim()) {
    try { data = JSON.parse(r.data.value); } catch (error) {
      r.error.textContent = `The data is not valid JSON: ${error.message}`;
      r.data.classList.add('invalid');
      r.data.focus();
      return;
    }
  }
  const answer = await confirmDialog({ title: 'Raise event',
    message: `Raise event "${name}" on instance ${id} with data ${compact(data, 200)}?`, okLabel: 'Raise' });
  if (!answer || view.stopped) return;
  try {
    await api(`/instances/${enc(id)}/raiseEvent/${enc(name)}`, { method: 'POST', json: data });
    toast(`Event "${name}" raised`);
    await view.refresh();
  } catch (error) {
    reportError(error, 'action');
  }
}

// ----------------------------------------------------------------------- instance: timeline

// The events that start something; EventId is their sequence id, which answers refer back to.
const SCHEDULING = {
  TaskScheduled: 'activity', TimerCreated: 'timer', SubOrchestrationCreated: 'suborchestration',
  EntityCalled: 'entity', EntitySignalled: 'entity', EntityLockRequested: 'lock', EventSent: 'event',
};
// Sent and forgotten: no answer ever comes, so they are instants.
const ONE_WAY = new Set(['EntitySignalled', 'EventSent']);

const entityLabel = (entity) => (entity ? `${entity.name}@${entity.key}` : '?');

function itemName(ev) {
  switch (ev.EventType) {
    case 'TimerCreated': return `timer until ${fmtTime(ev.FireAt, { date: false })}`;
    case 'EntityCalled': case 'EntitySignalled':
      return `${entityLabel(ev.Entity)} · ${ev.Operation ?? ''}${ev.EventType === 'EntitySignalled' ? ' (signal)' : ''}`;
    case 'EntityLockRequested': return `lock ${(ev.Entities ?? []).map(entityLabel).join(', ')}`;
    case 'EventSent': return `${ev.Name ?? ''} → ${ev.InstanceId ?? ''}`;
    default: return ev.Name ?? ev.EventType;
  }
}

/** The open item an answer refers to: any numeric *Id field (TaskId, TimerId...) but EventId. */
function answeredItem(ev, open) {
  for (const [field, value] of Object.entries(ev)) {
    if (field !== 'EventId' && field.endsWith('Id') && typeof value === 'number' && open.has(value)) {
      return open.get(value);
    }
  }
  return null;
}

function outcomeOf(ev) {
  if (/Failed$/.test(ev.EventType)) return 'failed';
  if (/Cancell?ed$/.test(ev.EventType)) return 'cancelled';
  if (ev.EventType === 'EntityResponded' && ev.Result && typeof ev.Result === 'object' && 'Err' in ev.Result) return 'failed';
  return 'completed';
}

/** Pairs scheduling events with their answers into Gantt rows, one per attempt. */
function buildTimeline(events) {
  const items = [];
  let execution = 0;
  let open = new Map(); // sequence id -> item waiting for its answer, in this execution
  const lastByName = new Map();
  const heldLocks = [];
  const times = events.map((ev) => toMs(ev.Timestamp)).filter((t) => t != null);
  events.forEach((ev, index) => {
    const type = ev.EventType;
    const at = toMs(ev.Timestamp);
    if (type === 'ExecutionStarted') {
      // continue-as-new starts a new execution whose sequence ids start again
      if (index > 0) { execution += 1; open = new Map(); }
      return;
    }
    const kind = SCHEDULING[type] ?? (typeof ev.EventId === 'number' ? 'other' : null);
    if (kind) {
      const item = { key: `${execution}:${ev.EventId ?? `i${index}`}`, kind, name: itemName(ev), start: at,
        end: null, outcome: ONE_WAY.has(type) ? 'sent' : 'pending', instant: ONE_WAY.has(type),
        begin: ev, answer: null, childId: type === 'SubOrchestrationCreated' ? ev.InstanceId : null };
      if (ev.FireAt) item.fireAt = toMs(ev.FireAt);
      // A retry is the same name scheduled again after the previous attempt failed.
      const sameName = `${kind}\u0000${item.name}`;
      const previous = lastByName.get(sameName);
      if (previous?.outcome === 'failed') { previous.attempt ??= 1; item.attempt = previous.attempt + 1; }
      lastByName.set(sameName, item);
      if (!item.instant && typeof ev.EventId === 'number') open.set(ev.EventId, item);
      items.push(item);
      return;
    }
    if (type === 'EventRaised') {
      items.push({ key: `${execution}:r${index}`, kind: 'event', name: ev.Name ?? 'event', start: at,
        end: null, outcome: 'received', instant: true, begin: ev, answer: null });
      return;
    }
    if (type === 'EntityUnlocked') {
      const lock = heldLocks.shift();
      if (lock) { lock.end = at; lock.outcome = 'completed'; lock.release = ev; }
      return;
    }
    const item = answeredItem(ev, open);
    if (!item) return;
    for (const [seq, candidate] of open) if (candidate === item) open.delete(seq);
    item.answer = ev;
    if (type === 'EntityLockGranted') { item.granted = at; item.outcome = 'held'; heldLocks.push(item); return; }
    item.end = at;
    item.outcome = outcomeOf(ev);
  });
  return { items, first: times.length ? Math.min(...times) : null, last: times.length ? Math.max(...times) : null };
}

function renderTimeline(view) {
  const { items } = view.timeline;
  const e = view.els;
  if (!items.length) {
    e.timeline.replaceChildren(h('p', { class: 'empty' }, 'Nothing scheduled yet.'));
    return;
  }
  view.axis = h('div', { class: 'tl-axis' });
  const header = h('div', { class: 'timeline-header' },
    ['Kind', 'Name', 'Started', 'Ended', 'Duration', 'Outcome'].map((c) => h('span', {}, c)), view.axis);
  e.timeline.replaceChildren(header, ...items.map((item) => timelineRow(view, item)));
}

function timelineRow(view, item) {
  const expanded = view.expanded.has(item.key);
  const bar = h('span', { class: `tl-bar${item.instant ? ' instant' : ''}` });
  item.bar = bar;
  item.durationNode = h('span', { class: 'tl-duration' });
  const row = h('div', { class: 'timeline-row', role: 'button', tabindex: 0, 'aria-expanded': String(expanded) },
    h('span', { class: 'tl-kind' }, item.kind === 'suborchestration' ? 'sub-orch' : item.kind),
    h('span', { class: 'tl-name', title: item.name },
      item.childId ? link(instanceHref(item.childId), item.name, { class: 'child-link', title: item.childId }) : item.name,
      item.attempt && h('span', { class: 'tag attempt' }, `attempt ${item.attempt}`)),
    h('span', { class: 'mono tl-time', title: fmtTime(item.start) }, fmtTime(item.start, { date: false })),
    h('span', { class: 'mono tl-time', title: fmtTime(item.end) }, item.end == null ? '' : fmtTime(item.end, { date: false })),
    item.durationNode,
    h('span', { class: `tl-outcome outcome-${item.outcome}` }, item.outcome),
    h('span', { class: 'tl-track' }, bar));
  const details = h('div', { class: 'timeline-details', hidden: !expanded });
  if (expanded) details.append(...timelineDetails(item));
  const wrapper = h('div', { class: `timeline-item outcome-${item.outcome}`,
    dataset: { kind: item.kind, key: item.key, outcome: item.outcome } }, row, details);
  const toggle = (event) => {
    if (event.target.closest('a')) return;
    const open = details.hidden;
    details.hidden = !open;
    row.setAttribute('aria-expanded', String(open));
    if (open) { view.expanded.add(item.key); details.replaceChildren(...timelineDetails(item)); }
    else view.expanded.delete(item.key);
  };
  row.addEventListener('click', toggle);
  row.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); toggle(event); }
  });
  return wrapper;
}

function timelineDetails(item) {
  const { begin, answer } = item;
  const blocks = [];
  const add = (title, value) => blocks.push(h('div', { class: 'detail-block' }, h('h3', {}, title), jsonPre(value)));
  if (begin && 'Input' in begin) add('Input', begin.Input);
  if (answer && 'Result' in answer) {
    const result = answer.Result;
    // An entity's answer is {Ok: json text} or {Err: failure}.
    if (result && typeof result === 'object' && ('Ok' in result || 'Err' in result)) {
      if ('Ok' in result) add('Result', unwrapJson(result.Ok));
      else add('Failure', result.Err);
    } else add('Result', result);
  }
  if (answer?.Failure) add('Failure', answer.Failure);
  const facts = [
    ['Started', fmtTime(item.start)], ['Ended', item.end == null ? '—' : fmtTime(item.end)],
    item.fireAt && ['Fires at', fmtTime(item.fireAt)], item.granted && ['Granted', fmtTime(item.granted)],
    item.childId && ['Child', link(instanceHref(item.childId), item.childId, { class: 'mono' })],
  ].filter(Boolean);
  return [
    h('dl', { class: 'meta compact' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('div', { class: 'detail-grid' }, blocks),
    h('details', { class: 'raw' }, h('summary', {}, 'Raw events'),
      jsonPre([begin, answer, item.release].filter(Boolean))),
  ];
}

/** Positions every bar on one axis: first event to last (or to now while the instance runs). */
function layoutTimeline(view) {
  const t = view.timeline;
  if (!t || !t.items.length || t.first == null) return;
  const running = UNFINISHED.has(view.status);
  const end = running ? Math.max(Date.now(), t.last) : t.last;
  const span = Math.max(end - t.first, 1);
  const pct = (ms) => `${Math.min(100, Math.max(0, ((ms - t.first) / span) * 100))}%`;
  for (const item of t.items) {
    const start = item.start ?? t.first;
    const stop = item.instant ? start : item.end ?? end;
    item.bar.style.left = pct(start);
    item.bar.style.width = item.instant ? '' : `calc(${pct(stop)} - ${pct(start)})`;
    item.bar.classList.toggle('open', !item.instant && item.end == null);
    item.durationNode.textContent = item.instant ? '' : fmtDuration(stop - start);
  }
  if (view.axis) {
    // Offsets only: an absolute time per tick would collide on a laptop-width track.
    view.axis.title = `${fmtTime(t.first)} → ${fmtTime(end)}`;
    view.axis.replaceChildren(...[0, 0.25, 0.5, 0.75, 1].map((f) =>
      h('span', { class: 'tick', style: `left:${f * 100}%` }, f === 0 ? '0' : `+${fmtDuration(span * f)}`)));
  }
}

// ----------------------------------------------------------------------- instance: history, logs

const HISTORY_SKIP = new Set(['EventType', 'EventId', 'Timestamp', 'Name']);

function renderHistory(view, events) {
  const first = toMs(events[0]?.Timestamp);
  view.els.historyCount.textContent = `(${events.length} events)`;
  view.els.history.replaceChildren(...events.map((ev, i) => {
    const rest = Object.fromEntries(Object.entries(ev).filter(([k]) => !HISTORY_SKIP.has(k)));
    const text = Object.keys(rest).length ? compact(rest, 160) : '';
    const at = toMs(ev.Timestamp);
    return h('tr', { dataset: { eventType: ev.EventType ?? '' } },
      h('td', { class: 'num' }, i),
      h('td', { class: 'mono nowrap', title: fmtTime(at) },
        fmtTime(at, { date: false }), at != null && first != null && h('span', { class: 'rel-static' }, ` +${fmtDuration(at - first)}`)),
      h('td', { class: 'mono' }, ev.EventType ?? '?'),
      h('td', { class: 'num' }, ev.EventId ?? ''),
      h('td', {}, ev.Name ?? ''),
      h('td', { class: 'mono history-details' }, text.length < 160 ? text
        : h('details', {}, h('summary', {}, text), jsonPre(rest))));
  }));
}

function renderLogs(view, logs) {
  const box = view.els.logs;
  if (logs instanceof Error) {
    if (logs instanceof AuthError) return;
    if (changed(view, 'logs', `error:${logs.message}`)) {
      box.replaceChildren(h('p', { class: 'inline-error' }, `Logs could not be read: ${logs.message}`));
    }
    return;
  }
  const lines = Array.isArray(logs) ? logs : [];
  if (!changed(view, 'logs', lines)) return;
  // Follow the tail only if the reader was already at the bottom.
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.replaceChildren(...(lines.length ? lines.map((line) => {
    const level = String(line.level ?? 'info').toLowerCase().replace(/[^a-z]/g, '');
    return h('div', { class: `log-line level-${level}` },
      h('span', { class: 'log-time', title: fmtTime(line.timestamp) }, fmtTime(line.timestamp, { date: false })),
      h('span', { class: 'log-level' }, level),
      h('span', { class: 'log-message' }, line.message ?? ''));
  }) : [h('p', { class: 'empty' }, 'No log lines.')]));
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// ===================================================================================== view: replay

function replayView(root, { id, query }) {
  const view = { stopped: false, turns: [], index: Math.max(0, (Number.parseInt(query.get('turn'), 10) || 1) - 1), status: null, keys: {} };
  view.isLive = () => view.status == null || UNFINISHED.has(view.status);
  const els = {
    status: h('span', { class: 'badge' }),
    label: h('span', { id: 'turn-label', class: 'turn-label' }, 'Turn – of –'),
    prev: h('button', { id: 'turn-prev', type: 'button', disabled: true }, '‹ Previous'),
    next: h('button', { id: 'turn-next', type: 'button', disabled: true }, 'Next ›'),
    list: h('ol', { id: 'turn-list', class: 'turn-list' }),
    time: h('span', { class: 'muted', id: 'turn-time' }),
    received: h('div', { id: 'turn-received', class: 'cards' }),
    decided: h('div', { id: 'turn-decided', class: 'cards' }),
  };
  view.els = els;
  els.prev.addEventListener('click', () => showTurn(view, id, view.index - 1));
  els.next.addEventListener('click', () => showTurn(view, id, view.index + 1));
  els.list.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-turn]');
    if (button) showTurn(view, id, Number(button.dataset.turn));
  });
  const onKey = (event) => {
    if (event.target.closest('input, textarea, select') || !$('#confirm').hidden) return;
    if (event.key === 'ArrowLeft') showTurn(view, id, view.index - 1);
    if (event.key === 'ArrowRight') showTurn(view, id, view.index + 1);
  };
  document.addEventListener('keydown', onKey);
  view.stop = () => document.removeEventListener('keydown', onKey);
  root.append(
    h('div', { class: 'page-head' },
      h('h1', {}, 'Replay ', link(instanceHref(id), id, { class: 'mono', id: 'replay-instance' })), els.status),
    h('div', { class: 'turn-nav' }, els.prev, els.label, els.next, els.time,
      h('span', { class: 'muted hint' }, '← → to step')),
    h('div', { class: 'replay' },
      h('aside', { class: 'panel turn-aside' }, h('h2', {}, 'Turns'), els.list),
      h('section', { class: 'panel' }, h('h2', {}, 'Events fed in'), els.received),
      h('section', { class: 'panel' }, h('h2', {}, 'Actions decided'), els.decided)));
  view.refresh = async () => {
    try {
      const [turns, status] = await Promise.all([
        api(`/instances/${enc(id)}/turns`), api(`/instances/${enc(id)}?showInput=false`)]);
      if (view.stopped) return;
      clearError('refresh');
      view.status = status.data?.runtimeStatus ?? null;
      updateLive();
      setText(els.status, view.status ?? '');
      els.status.className = `badge status-${view.status}`;
      if (!changed(view, 'turns', turns.data)) return;
      view.turns = Array.isArray(turns.data) ? turns.data : [];
      renderTurnList(view);
      showTurn(view, id, view.index);
    } catch (error) {
      if (!view.stopped) reportError(error, 'refresh');
    }
  };
  view.refresh();
  return view;
}

function renderTurnList(view) {
  view.els.list.replaceChildren(...view.turns.map((turn, i) =>
    h('li', {}, h('button', { type: 'button', class: 'turn-link', dataset: { turn: String(i) } },
      h('span', { class: 'turn-number' }, `Turn ${turn.turn ?? i + 1}`),
      h('span', { class: 'mono muted' }, fmtTime(turn.timestamp, { date: false })),
      h('span', { class: 'muted' }, `${(turn.received ?? []).length} in · ${(turn.decided ?? []).length} out`)))));
}

function showTurn(view, id, index) {
  const { turns, els } = view;
  if (!turns.length) {
    els.label.textContent = 'Turn 0 of 0';
    els.received.replaceChildren(h('p', { class: 'empty' }, 'No turns recorded.'));
    els.decided.replaceChildren();
    return;
  }
  view.index = Math.min(Math.max(index, 0), turns.length - 1);
  const turn = turns[view.index];
  els.label.textContent = `Turn ${view.index + 1} of ${turns.length}`;
  els.time.textContent = fmtTime(turn.timestamp);
  els.prev.disabled = view.index === 0;
  els.next.disabled = view.index === turns.length - 1;
  const cards = (events, empty) => (events?.length ? events.map(eventCard) : [h('p', { class: 'empty' }, empty)]);
  els.received.replaceChildren(...cards(turn.received, 'Nothing fed in.'));
  els.decided.replaceChildren(...cards(turn.decided, 'Nothing decided.'));
  for (const button of els.list.querySelectorAll('button[data-turn]')) {
    const active = Number(button.dataset.turn) === view.index;
    button.classList.toggle('active', active);
    if (active) button.scrollIntoView({ block: 'nearest' });
  }
  // Keep the turn in the address so it can be shared; replaceState fires no hashchange.
  history.replaceState(null, '', `${instanceHref(id)}/replay?turn=${view.index + 1}`);
}

const CARD_SKIP = new Set(['EventType', 'EventId', 'Timestamp', 'Name']);

function eventCard(ev) {
  const fields = Object.entries(ev).filter(([k]) => !CARD_SKIP.has(k));
  return h('div', { class: 'event-card', dataset: { eventType: ev.EventType ?? '' } },
    h('div', { class: 'card-head' },
      h('span', { class: 'ev-type' }, ev.EventType ?? '?'),
      ev.Name && h('span', { class: 'ev-name' }, ev.Name),
      typeof ev.EventId === 'number' && h('span', { class: 'ev-id mono' }, `#${ev.EventId}`),
      h('span', { class: 'spacer' }),
      h('span', { class: 'mono muted' }, fmtTime(ev.Timestamp, { date: false }))),
    fields.length > 0 && h('dl', { class: 'card-fields' }, fields.map(([k, v]) =>
      [h('dt', {}, k), h('dd', { class: 'mono', title: compact(v, 2000) },
        // FireAt, ScheduledAt...: times read better in local time, like everywhere else
        k.endsWith('At') && toMs(v) != null ? fmtTime(v) : compact(v, 90))])),
    h('details', {}, h('summary', {}, 'JSON'), jsonPre(ev)));
}

// ===================================================================================== view: entities

function entitiesView(root, { query }) {
  const view = { stopped: false, isLive: () => true, expanded: new Set() };
  const name = query.get('name') ?? '';
  const input = h('input', { id: 'entity-filter-name', type: 'text', value: name, placeholder: 'entity name', spellcheck: 'false' });
  const form = h('form', { class: 'filters' },
    h('label', { class: 'field' }, h('span', {}, 'Entity name'), input),
    h('button', { id: 'entity-filter-apply', type: 'submit', class: 'primary' }, 'Apply'),
    h('a', { href: '#/entities', class: 'clear-filters' }, 'Clear'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    const hash = `#/entities${value ? `?name=${enc(value)}` : ''}`;
    if (location.hash === hash) route(); else location.hash = hash;
  });
  const list = pagedTable(view, {
    columns: ['Name', 'Key', 'Last operation', 'Pending', 'Locked by', 'State'],
    tableId: 'entities',
    empty: 'No entities match.',
    pathFor: () => (name ? `/entities/${enc(name)}?fetchState=true&top=${PAGE_SIZE}` : `/entities?fetchState=true&top=${PAGE_SIZE}`),
    renderRow: (entity) => entityRow(view, entity),
  });
  root.append(h('div', { class: 'page-head' }, h('h1', {}, 'Entities'), list.pager.el), form, list.table);
  view.refresh = list.refresh;
  list.refresh();
  return view;
}

function entityRow(view, entity) {
  const { name = '', key = '' } = entity.entityId ?? {};
  const rowKey = `${name}\u0000${key}`;
  const state = entity.state ?? null;
  let stateCell = state === null ? h('span', { class: 'muted' }, 'null')
    : h('span', { class: 'mono' }, JSON.stringify(state));
  if (state !== null && (typeof state === 'object' || JSON.stringify(state).length > 80)) {
    // <details> keeps the row one line until asked; its open state survives re-renders.
    stateCell = h('details', { class: 'state', open: view.expanded.has(rowKey) },
      h('summary', { class: 'mono' }, compact(state, 80)), jsonPre(state));
    stateCell.addEventListener('toggle', () => {
      if (stateCell.open) view.expanded.add(rowKey); else view.expanded.delete(rowKey);
    });
  }
  return h('tr', { dataset: { entityName: name, entityKey: key } },
    h('td', {}, name),
    h('td', { class: 'mono' }, key),
    h('td', { class: 'nowrap' }, timeCell(entity.lastOperationTime)),
    h('td', { class: 'num' }, entity.pendingOperations ?? '—'),
    h('td', { class: 'mono' }, entity.lockedBy ? link(instanceHref(entity.lockedBy), entity.lockedBy) : ''),
    h('td', { class: 'state-cell' }, stateCell));
}

// ===================================================================================== view: deployments

function deploymentsView(root, { query }) {
  const view = { stopped: false, isLive: () => true };
  // Set by the instance page's "deployment" link: that row is marked and scrolled to.
  const selected = query.get('digest');
  const tbody = h('tbody');
  const columns = ['Digest', 'App', 'Version', 'State', 'Deployed', 'Offers', 'Newest for', 'Pinned'];
  root.append(h('div', { class: 'page-head' }, h('h1', {}, 'Deployments')),
    h('div', { class: 'table-wrap' }, h('table', { id: 'deployments', class: 'grid' },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))), tbody)));
  let lastKey = null;
  view.refresh = async () => {
    try {
      const { data } = await api('/deployments');
      if (view.stopped) return;
      clearError('refresh');
      const rows = Array.isArray(data) ? data : [];
      const key = JSON.stringify(rows);
      if (key === lastKey) return;
      const first = lastKey === null;
      lastKey = key;
      tbody.replaceChildren(...(rows.length ? rows.map((d) => deploymentRow(d, selected))
        : [h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, 'No deployments.'))]));
      if (first && selected) $('tr.selected', tbody)?.scrollIntoView({ block: 'center' });
    } catch (error) {
      if (!view.stopped) reportError(error, 'refresh');
    }
  };
  view.refresh();
  return view;
}

function deploymentRow(d, selected) {
  const offers = d.offers ?? {};
  const chips = (names, href) => (names ?? []).map((n) => (href ? link(href(n), n, { class: 'chip' }) : h('span', { class: 'chip' }, n)));
  const group = (label, names, href) => (names?.length
    ? h('div', { class: 'offer-group' }, h('span', { class: 'offer-label' }, label), chips(names, href)) : null);
  const pinned = d.pinnedInstances ?? 0;
  const digest = d.digest ?? '';
  return h('tr', { dataset: { digest }, class: selected && digest === selected ? 'selected' : null },
    h('td', { class: 'mono nowrap', title: digest }, shortDigest(digest)),
    h('td', { class: 'mono app' }, d.app ?? ''),
    h('td', { class: 'mono' }, d.version ?? ''),
    h('td', {}, h('span', { class: `badge state-${d.state}`, title: d.retiredAt ? `retired ${fmtTime(d.retiredAt)}` : null }, d.state ?? '')),
    h('td', { class: 'nowrap' }, timeCell(d.deployedAt)),
    h('td', { class: 'offers' },
      group('orchestrators', offers.orchestrators, (n) => `#/instances?name=${enc(n)}`),
      group('activities', offers.activities),
      group('entities', offers.entities, (n) => `#/entities?name=${enc(n)}`)),
    h('td', {}, chips(d.newestFor)),
    h('td', { class: 'num pinned nowrap' },
      pinned > 0 ? link(digestInstancesHref(digest, 'Pending,Running,Suspended'), String(pinned),
        { class: 'pinned-instances', title: 'The unfinished instances running this code' }) : '0',
      digest && link(digestInstancesHref(digest), 'all instances',
        { class: 'all-instances small-link', title: 'Every instance that ran or runs on this deployment' })));
}

// ===================================================================================== start

function start() {
  $('#login-form').addEventListener('submit', submitLogin);
  $('#sign-out').addEventListener('click', signOut);
  $('#error').addEventListener('click', () => clearError());
  window.addEventListener('hashchange', route);
  document.addEventListener('visibilitychange', () => {
    updateLive();
    if (document.visibilityState === 'visible') pollOnce(); // catch up at once, not in 2 s
  });
  setInterval(tickRelativeTimes, 1000);
  updateSignOut();
  probe().then((ok) => {
    if (ok) { hideLogin(); route(); }
    schedulePoll();
  });
}

start();
