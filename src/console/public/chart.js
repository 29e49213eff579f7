// Events per second as stacked bars, one per second, on a canvas. Plain 2D drawing: no library.

// A Map, not an object literal: event names come from players, and `toString` or `__proto__` must not find
// Object.prototype's members.
const KNOWN_COLORS = new Map([
  ['START', '#2f9e62'],
  ['HEARTBEAT', '#3b7ddd'],
  ['STOP', '#8a94a6'],
  ['ERROR', '#e0484d'],
]);
const PALETTE = ['#e8a33d', '#8e5bd6', '#1fa3a3', '#d6589f', '#7a9a2a', '#c0703a', '#5b6fd6', '#a0a0a0'];
const ORDER = ['START', 'HEARTBEAT', 'STOP', 'ERROR'];

/**
 * A stable colour per event name: fixed for the known ones, then from a palette in order of appearance. It holds
 * at most `capacity` names, forgetting the least recently coloured one past that: give it the names the model
 * counts apart (ConsoleModel's `group`, at most `maxGroups` of them) and no colour ever changes.
 */
export class Palette {
  constructor(capacity) {
    this.capacity = capacity;
    this.assigned = new Map();
    this.next = 0;
  }

  /** Names holding a palette colour. */
  get size() {
    return this.assigned.size;
  }

  colorOf(name) {
    const known = KNOWN_COLORS.get(name);
    if (known) return known;
    let color = this.assigned.get(name);
    if (color) {
      this.assigned.delete(name); // most recent last
    } else {
      if (this.assigned.size >= this.capacity) this.assigned.delete(this.assigned.keys().next().value);
      color = PALETTE[this.next++ % PALETTE.length];
    }
    this.assigned.set(name, color);
    return color;
  }
}

/** Known names in their usual order, then the others by volume. */
export function stackOrder(series) {
  const totals = [...series].map(([name, values]) => [name, values.reduce((a, b) => a + b, 0)]);
  return totals
    .sort((a, b) => {
      const ia = ORDER.indexOf(a[0]);
      const ib = ORDER.indexOf(b[0]);
      if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
      return b[1] - a[1];
    })
    .map(([name]) => name);
}

/** 1, 2, 5, 10, 20, 50... the smallest step that gives at most `lines` grid lines up to `max`. */
function niceStep(max, lines) {
  const raw = max / lines;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function formatCount(n) {
  return n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

/**
 * Draws `{ seconds, series }` (see ConsoleModel.series) on `canvas`, sized to its CSS box, in `palette`'s colours.
 * @returns {number} the largest per-second total drawn
 */
export function drawChart(canvas, { seconds, series }, palette) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const styles = getComputedStyle(canvas);
  const ink = styles.getPropertyValue('--chart-ink').trim() || '#555';
  const grid = styles.getPropertyValue('--chart-grid').trim() || '#e5e5e5';
  const font = `11px ${styles.fontFamily}`;

  const left = 44;
  const right = 8;
  const top = 8;
  const bottom = 20;
  const plotW = Math.max(1, width - left - right);
  const plotH = Math.max(1, height - top - bottom);
  const n = seconds.length;
  const names = stackOrder(series);
  const colors = names.map((name) => palette.colorOf(name));

  let max = 0;
  for (let k = 0; k < n; k++) {
    let sum = 0;
    for (const name of names) sum += series.get(name)[k];
    if (sum > max) max = sum;
  }
  const step = niceStep(Math.max(max, 4), 4);
  const top_ = Math.ceil(Math.max(max, 4) / step) * step;
  const y = (v) => top + plotH - (v / top_) * plotH;

  ctx.font = font;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  ctx.lineWidth = 1;
  for (let v = 0; v <= top_; v += step) {
    const yy = Math.round(y(v)) + 0.5;
    ctx.strokeStyle = grid;
    ctx.beginPath();
    ctx.moveTo(left, yy);
    ctx.lineTo(left + plotW, yy);
    ctx.stroke();
    ctx.fillStyle = ink;
    ctx.fillText(formatCount(v), left - 6, yy);
  }

  const barW = plotW / Math.max(n, 1);
  const gap = barW > 3 ? 1 : 0;
  for (let k = 0; k < n; k++) {
    let base = 0;
    const x = left + k * barW;
    for (let j = 0; j < names.length; j++) {
      const v = series.get(names[j])[k];
      if (!v) continue;
      const y0 = y(base);
      const y1 = y(base + v);
      ctx.fillStyle = colors[j];
      ctx.fillRect(x, y1, Math.max(barW - gap, 0.5), y0 - y1);
      base += v;
    }
  }

  // Time axis: a label per minute, counted back from now.
  ctx.textAlign = 'center';
  ctx.textBaseline = 'alphabetic';
  ctx.fillStyle = ink;
  for (let back = 0; back <= n; back += 60) {
    const x = left + plotW - back * barW;
    if (x < left - 1) break;
    const label = back === 0 ? 'now' : `−${back / 60} min`;
    ctx.fillText(label, Math.min(Math.max(x, left + 16), left + plotW - 12), height - 5);
  }
  return max;
}
