// The live console: reads this service's own `GET /events` stream with EventSource and shows it.
// Events only update the model; the page is drawn a few times a second, so a busy stream costs
// a JSON.parse per event and little else. Event contents are untrusted: they go in textContent only.
import { colorOf, drawChart, stackOrder } from './chart.js';
import { ConsoleModel, NONE, OTHER, UNKNOWN } from './console-model.js';

const RENDER_EVERY_MS = 250;
const TABLE_ROWS = 100;
const ERROR_ROWS = 20;
const LEGEND_SECONDS = 10;

const $ = (id) => document.getElementById(id);
const model = new ConsoleModel();

const ui = {
  state: $('state'),
  stateText: $('state-text'),
  rate: $('rate'),
  total: $('total'),
  tokenForm: $('token-form'),
  token: $('token'),
  chart: $('chart'),
  legend: $('legend'),
  active: $('active'),
  activeHint: $('active-hint'),
  activePlatforms: $('active-platforms'),
  byName: $('by-name'),
  byPlatform: $('by-platform'),
  nameFilter: $('name-filter'),
  textFilter: $('text-filter'),
  pause: $('pause'),
  rows: $('event-rows'),
  eventsEmpty: $('events-empty'),
  eventsStatus: $('events-status'),
  errors: $('errors'),
  errorsEmpty: $('errors-empty'),
  errorCount: $('error-count'),
  details: $('details'),
  detailsTitle: $('details-title'),
  detailsJson: $('details-json'),
  detailsClose: $('details-close'),
};

// ---- Connection -------------------------------------------------------------------------------

let token = new URLSearchParams(location.search).get('access_token') ?? '';
ui.token.value = token;

let source;
let attempt = 0;
let retryAt = 0;
let retryTimer;
let failure = '';

function streamUrl() {
  return token ? `events?access_token=${encodeURIComponent(token)}` : 'events';
}

function setState(state, text) {
  ui.state.dataset.state = state;
  if (ui.stateText.textContent !== text) ui.stateText.textContent = text;
}

function connect() {
  clearTimeout(retryTimer);
  retryAt = 0;
  source?.close();
  setState(attempt ? 'reconnecting' : 'connecting', attempt ? `Reconnecting (attempt ${attempt})…` : 'Connecting…');
  const es = new EventSource(streamUrl());
  source = es;
  es.onopen = () => {
    if (source !== es) return;
    attempt = 0;
    failure = '';
    ui.token.classList.remove('attention');
    setState('live', 'Live');
  };
  es.onmessage = (message) => {
    model.add(message.data);
  };
  es.onerror = () => {
    if (source !== es) return;
    attempt++;
    if (es.readyState === EventSource.CONNECTING) {
      // The connection dropped: the browser reconnects by itself.
      setState('reconnecting', `Reconnecting (attempt ${attempt})…`);
      return;
    }
    // The server refused the stream (an HTTP error): the browser gives up, so find out why and retry later.
    es.close();
    void explainFailure().then((reason) => {
      if (source !== es) return;
      failure = reason;
      const delay = Math.min(30, 2 ** Math.min(attempt, 5)) * 1000;
      retryAt = Date.now() + delay;
      retryTimer = setTimeout(connect, delay);
      renderState();
    });
  };
}

/** Asks the stream once more with fetch, which, unlike EventSource, tells the HTTP status and message. */
async function explainFailure() {
  const abort = new AbortController();
  try {
    const res = await fetch(streamUrl(), {
      headers: { accept: 'text/event-stream' },
      cache: 'no-store',
      signal: abort.signal,
    });
    if (res.ok) return 'Stream interrupted';
    const body = await res.json().catch(() => ({}));
    if (res.status === 401 || res.status === 403) {
      ui.token.classList.add('attention');
      return token ? `Token refused (${res.status})` : 'Access token required';
    }
    return `${res.status}${body.message ? `: ${body.message}` : ''}`;
  } catch {
    return 'Service unreachable';
  } finally {
    abort.abort();
  }
}

ui.tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  token = ui.token.value.trim();
  attempt = 0;
  failure = '';
  ui.token.classList.remove('attention');
  connect();
});

// ---- Table controls -----------------------------------------------------------------------------

let paused = false;
let pausedTotal = 0;
let shown = [];
let tableKey = '';

ui.pause.addEventListener('click', () => {
  paused = !paused;
  pausedTotal = model.total;
  ui.pause.textContent = paused ? 'Resume' : 'Pause';
  ui.pause.setAttribute('aria-pressed', String(paused));
  tableKey = '';
  render();
});

for (const input of [ui.nameFilter, ui.textFilter]) {
  input.addEventListener('input', () => {
    tableKey = '';
    render();
  });
}

ui.rows.addEventListener('click', (e) => {
  const row = e.target.closest('tr');
  if (row) showDetails(shown[row.sectionRowIndex]);
});

let shownErrors = [];
ui.errors.addEventListener('click', (e) => {
  const item = e.target.closest('li');
  if (item) showDetails(shownErrors[[...ui.errors.children].indexOf(item)]);
});

ui.detailsClose.addEventListener('click', () => ui.details.close());

function showDetails(entry) {
  if (!entry) return;
  let pretty;
  try {
    pretty = JSON.stringify(JSON.parse(entry.raw), null, 2);
  } catch {
    pretty = entry.raw;
  }
  ui.detailsTitle.textContent = `${entry.name || NONE} · ${entry.session || 'no session'}`;
  ui.detailsJson.textContent = pretty;
  if (!ui.details.open) ui.details.showModal();
}

// ---- Rendering ----------------------------------------------------------------------------------

const pad = (n, width = 2) => String(n).padStart(width, '0');
function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function formatRate(rate) {
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1).replace(/\.0$/, '');
}

function setText(el, value) {
  if (el.textContent !== value) el.textContent = value;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderState() {
  if (!retryAt) return;
  const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
  setState('error', `${failure} — retrying in ${seconds} s`);
}

function renderChart(now) {
  const data = model.series(now);
  const max = drawChart(ui.chart, data);
  ui.chart.dataset.max = String(max);
  const items = stackOrder(data.series).map((name) => {
    const values = data.series.get(name);
    let sum = 0;
    for (let k = values.length - LEGEND_SECONDS; k < values.length; k++) sum += values[k] ?? 0;
    const li = el('li');
    const swatch = el('span', 'swatch');
    swatch.style.background = colorOf(name);
    li.append(swatch, el('span', '', name), el('b', '', `${formatRate(sum / LEGEND_SECONDS)}/s`));
    return li;
  });
  ui.legend.replaceChildren(...items);
}

function countsTable(table, pairs) {
  const total = pairs.reduce((sum, [, n]) => sum + n, 0) || 1;
  const rows = pairs.map(([name, n]) => {
    const tr = el('tr');
    const label = el('td', '', name);
    label.title = name;
    const share = el('span', 'share');
    share.style.width = `${Math.max(1, (n / total) * 100)}%`;
    label.append(share);
    tr.append(label, el('td', 'n', n.toLocaleString('en')));
    return tr;
  });
  table.replaceChildren(...rows);
}

function renderCounters(now) {
  const active = model.activeSessions(now);
  setText(ui.active, active.total.toLocaleString('en'));
  // Two heartbeat periods, as measured (or the players' default until then).
  setText(ui.activeHint, `started, not ended, heard from in the last ${Math.round(model.activeWindowMs / 1000)} s`);
  ui.activePlatforms.replaceChildren(
    ...active.byPlatform.map(([platform, n]) => {
      const li = el('li', '', `${platform} `);
      li.append(el('b', '', n.toLocaleString('en')));
      return li;
    }),
  );
  countsTable(ui.byName, model.byName());
  countsTable(ui.byPlatform, model.byPlatform());
}

function syncNameOptions() {
  const names = model
    .byName()
    .map(([name]) => name)
    .filter((name) => name !== NONE && name !== OTHER)
    .sort();
  const present = new Set([...ui.nameFilter.options].map((o) => o.value));
  for (const name of names) {
    if (!present.has(name)) ui.nameFilter.append(new Option(name, name));
  }
}

const CELLS = 7;
function row(index) {
  let tr = ui.rows.rows[index];
  if (!tr) {
    tr = ui.rows.insertRow();
    for (let i = 0; i < CELLS; i++) tr.insertCell();
    const tag = el('span', 'tag');
    tr.cells[1].append(tag);
  }
  return tr;
}

function renderTable() {
  if (paused) {
    const unseen = model.total - pausedTotal;
    setText(
      ui.eventsStatus,
      `Paused: ${unseen.toLocaleString('en')} new ${unseen === 1 ? 'event' : 'events'} not shown.`,
    );
    return;
  }
  const filter = { name: ui.nameFilter.value, text: ui.textFilter.value };
  const key = `${model.total}|${filter.name}|${filter.text}`;
  if (key === tableKey) return;
  tableKey = key;
  shown = model.find(filter, TABLE_ROWS);
  for (let i = 0; i < shown.length; i++) {
    const entry = shown[i];
    const tr = row(i);
    tr.hidden = false;
    const cells = tr.cells;
    setText(cells[0], clock(entry.receivedAt));
    const tag = cells[1].firstChild;
    setText(tag, entry.name || NONE);
    if (tag.colorOf !== entry.name) {
      tag.colorOf = entry.name;
      tag.style.background = colorOf(entry.name);
    }
    const values = [entry.session, entry.platform, entry.version, entry.media, entry.ip];
    for (let c = 0; c < values.length; c++) {
      setText(cells[c + 2], values[c]);
      if (cells[c + 2].title !== values[c]) cells[c + 2].title = values[c];
    }
  }
  for (let i = shown.length; i < ui.rows.rows.length; i++) ui.rows.rows[i].hidden = true;
  ui.eventsEmpty.hidden = shown.length > 0;
  if (model.total && !shown.length) setText(ui.eventsEmpty, 'No recent event matches these filters.');
  const filtered = filter.name || filter.text.trim();
  setText(
    ui.eventsStatus,
    `${shown.length} ${filtered ? 'matching ' : ''}${shown.length === 1 ? 'event' : 'events'} shown, newest first, ` +
      `from the latest ${model.latest.length.toLocaleString('en')} received. Click a row for its JSON.`,
  );
}

function renderErrors() {
  const latest = model.errors.newest().next().value;
  if (latest === shownErrors[0]) return;
  shownErrors = [];
  for (const entry of model.errors.newest()) {
    shownErrors.push(entry);
    if (shownErrors.length >= ERROR_ROWS) break;
  }
  ui.errors.replaceChildren(
    ...shownErrors.map((entry) => {
      const li = el('li');
      const title = el('div', 'title');
      title.append(el('span', '', entry.errorName || 'ERROR'), el('time', '', clock(entry.receivedAt)));
      li.append(
        title,
        el('p', 'message', entry.message || '(no message)'),
        el(
          'div',
          'meta',
          `media ${entry.media || '–'} · ${entry.platform || UNKNOWN} · ${entry.session || 'no session'}`,
        ),
      );
      return li;
    }),
  );
  ui.errorsEmpty.hidden = shownErrors.length > 0;
  setText(ui.errorCount, `${model.names.counts.get('ERROR') ?? 0} since the page opened`);
}

function render() {
  const now = Date.now();
  renderState();
  setText(ui.rate, formatRate(model.rate(now)));
  setText(ui.total, model.total.toLocaleString('en'));
  renderChart(now);
  renderCounters(now);
  syncNameOptions();
  renderTable();
  renderErrors();
}

setInterval(() => {
  if (!document.hidden) render();
}, RENDER_EVERY_MS);
window.addEventListener('resize', () => render());

connect();
render();
