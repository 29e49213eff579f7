// The live console: reads this service's own `GET /events` stream and shows it.
// Events only update the model; the page is drawn a few times a second, so a busy stream costs
// a JSON.parse per event and little else. Event contents are untrusted: they go in textContent only.
// All the page's state belongs to one ConsolePage; the rest of this file is constants and pure helpers.
import { Palette, drawChart, stackOrder } from './chart.js';
import { ConsoleModel, NONE, OTHER, UNKNOWN } from './console-model.js';
import { StreamConnection } from './console-stream.js';

const RENDER_EVERY_MS = 250;
const TABLE_ROWS = 100;
const ERROR_ROWS = 20;
const LEGEND_SECONDS = 10;
const CELLS = 7;

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

/** The page's elements, by role. */
function findElements() {
  const $ = (id) => document.getElementById(id);
  return {
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
}

class ConsolePage {
  ui = findElements();
  model = new ConsoleModel();
  /** One colour per name the model counts apart: bounded as the model is. */
  palette = new Palette(this.model.maxGroups);
  stream = new StreamConnection(
    (data) => this.model.add(data),
    () => this.renderState(),
  );
  paused = false;
  /** `model.total` when the table was paused. */
  pausedTotal = 0;
  /** The events in the table's rows, in order. */
  shown = [];
  /** What the table shows (total and filters): it is redrawn only when this changes. */
  tableKey = '';
  /** The events in the errors list, in order. */
  shownErrors = [];
  /** The colour each name tag of the table was given last, so that it is set only when it changes. */
  tagColors = new WeakMap();

  start() {
    const { ui } = this;
    ui.token.value = new URLSearchParams(location.search).get('access_token') ?? '';
    ui.tokenForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.stream.connect(ui.token.value.trim());
    });
    ui.pause.addEventListener('click', () => this.togglePause());
    for (const input of [ui.nameFilter, ui.textFilter]) {
      input.addEventListener('input', () => {
        this.tableKey = '';
        this.render();
      });
    }
    ui.rows.addEventListener('click', (e) => {
      const row = e.target.closest('tr');
      if (row) this.showDetails(this.shown[row.sectionRowIndex]);
    });
    ui.errors.addEventListener('click', (e) => {
      const item = e.target.closest('li');
      if (item) this.showDetails(this.shownErrors[[...ui.errors.children].indexOf(item)]);
    });
    ui.detailsClose.addEventListener('click', () => ui.details.close());
    setInterval(() => {
      if (!document.hidden) this.render();
    }, RENDER_EVERY_MS);
    window.addEventListener('resize', () => this.render());
    this.stream.connect(ui.token.value);
    this.render();
  }

  togglePause() {
    const { ui } = this;
    this.paused = !this.paused;
    this.pausedTotal = this.model.total;
    ui.pause.textContent = this.paused ? 'Resume' : 'Pause';
    ui.pause.setAttribute('aria-pressed', String(this.paused));
    this.tableKey = '';
    this.render();
  }

  showDetails(entry) {
    if (!entry) return;
    const { ui } = this;
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

  render() {
    const now = Date.now();
    const { ui, model } = this;
    this.renderState(now);
    setText(ui.rate, formatRate(model.rate(now)));
    setText(ui.total, model.total.toLocaleString('en'));
    this.renderChart(now);
    this.renderCounters(now);
    this.syncNameOptions();
    this.renderTable();
    this.renderErrors();
  }

  renderState(now = Date.now()) {
    const { ui } = this;
    const { state, text, refused } = this.stream.status(now);
    ui.state.dataset.state = state;
    setText(ui.stateText, text);
    ui.token.classList.toggle('attention', refused);
  }

  renderChart(now) {
    const { ui } = this;
    const data = this.model.series(now);
    const max = drawChart(ui.chart, data, this.palette);
    ui.chart.dataset.max = String(max);
    const items = stackOrder(data.series).map((name) => {
      const values = data.series.get(name);
      let sum = 0;
      for (let k = values.length - LEGEND_SECONDS; k < values.length; k++) sum += values[k] ?? 0;
      const li = el('li');
      const swatch = el('span', 'swatch');
      swatch.style.background = this.palette.colorOf(name);
      li.append(swatch, el('span', '', name), el('b', '', `${formatRate(sum / LEGEND_SECONDS)}/s`));
      return li;
    });
    ui.legend.replaceChildren(...items);
  }

  renderCounters(now) {
    const { ui, model } = this;
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

  syncNameOptions() {
    const { nameFilter } = this.ui;
    const names = this.model
      .byName()
      .map(([name]) => name)
      .filter((name) => name !== NONE && name !== OTHER)
      .sort();
    const present = new Set([...nameFilter.options].map((o) => o.value));
    for (const name of names) {
      if (!present.has(name)) nameFilter.append(new Option(name, name));
    }
  }

  /** The table's row `index`, made when first needed and reused afterwards. */
  row(index) {
    const { rows } = this.ui;
    let tr = rows.rows[index];
    if (!tr) {
      tr = rows.insertRow();
      for (let i = 0; i < CELLS; i++) tr.insertCell();
      tr.cells[1].append(el('span', 'tag'));
    }
    return tr;
  }

  renderTable() {
    const { ui, model } = this;
    if (this.paused) {
      const unseen = model.total - this.pausedTotal;
      setText(
        ui.eventsStatus,
        `Paused: ${unseen.toLocaleString('en')} new ${unseen === 1 ? 'event' : 'events'} not shown.`,
      );
      return;
    }
    const filter = { name: ui.nameFilter.value, text: ui.textFilter.value };
    const key = `${model.total}|${filter.name}|${filter.text}`;
    if (key === this.tableKey) return;
    this.tableKey = key;
    const shown = model.find(filter, TABLE_ROWS);
    this.shown = shown;
    for (let i = 0; i < shown.length; i++) {
      const entry = shown[i];
      const tr = this.row(i);
      tr.hidden = false;
      const cells = tr.cells;
      setText(cells[0], clock(entry.receivedAt));
      const tag = cells[1].firstChild;
      setText(tag, entry.name || NONE);
      // Coloured as in the chart, where names past the model's limit are stacked as OTHER.
      const color = this.palette.colorOf(entry.group);
      if (this.tagColors.get(tag) !== color) {
        this.tagColors.set(tag, color);
        tag.style.background = color;
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

  renderErrors() {
    const { ui, model } = this;
    const latest = model.errors.newest().next().value;
    if (latest === this.shownErrors[0]) return;
    const shownErrors = [];
    for (const entry of model.errors.newest()) {
      shownErrors.push(entry);
      if (shownErrors.length >= ERROR_ROWS) break;
    }
    this.shownErrors = shownErrors;
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
    setText(ui.errorCount, `${model.count('ERROR').toLocaleString('en')} since the page opened`);
  }
}

/** Fills a counts table with [name, count] pairs, each with a bar of its share. */
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

new ConsolePage().start();
