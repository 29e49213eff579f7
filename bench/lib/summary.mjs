// Tables, and the side-by-side summary of several targets over several rounds (--compare, --rounds): each
// scenario's numbers (`metrics` of its result) as each target's median over the rounds, the ratio of the first
// target (the project's build, `app`) to each other, and each round's raw values of the main metrics, so that a
// round out of line shows.
import { median, round } from './util.mjs';

/** Rows (the first is the header) as a Markdown table; every column but the last padded. */
export function formatTable(rows) {
  const last = rows[0].length - 1;
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  const line = (r) =>
    `| ${r.map((c, i) => (i === last ? String(c ?? '') : String(c ?? '').padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => '-'.repeat(i === last ? 3 : w + 2)).join('|')}|`;
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join('\n');
}

/** The values of one metric over the rounds of one target: their median, or how many were true. */
function aggregate(values) {
  const present = values.filter((v) => v !== undefined && v !== null);
  if (!present.length) return { n: 0 };
  if (present.every((v) => typeof v === 'number')) return { n: present.length, median: round(median(present), 2) };
  if (present.every((v) => typeof v === 'boolean')) return { n: present.length, yes: present.filter(Boolean).length };
  return { n: present.length, text: [...new Set(present.map(String))].join(' / ') };
}

function show(agg) {
  if (!agg.n) return 'n/a';
  if (agg.median !== undefined) return String(agg.median);
  if (agg.yes !== undefined) return agg.yes === agg.n ? 'yes' : `NO (${agg.yes} of ${agg.n})`;
  return agg.text;
}

/** The summary of `runs` (entries with scenario, target, round, metrics, main_metrics, error) for `labels`. */
export function summarize(runs, labels) {
  const [first, ...others] = labels;
  const rows = [];
  for (const scenario of [...new Set(runs.map((r) => r.scenario))]) {
    const ofScenario = runs.filter((r) => r.scenario === scenario);
    const metrics = [...new Set(ofScenario.flatMap((r) => Object.keys(r.metrics ?? {})))];
    const main = new Set(ofScenario.flatMap((r) => r.main_metrics ?? []));
    for (const metric of metrics) {
      const values = Object.fromEntries(
        labels.map((label) => [
          label,
          aggregate(ofScenario.filter((r) => r.target === label).map((r) => r.metrics?.[metric])),
        ]),
      );
      const ratios = {};
      for (const other of others) {
        const [a, b] = [values[first].median, values[other].median];
        ratios[other] = typeof a === 'number' && typeof b === 'number' && b !== 0 ? round(a / b, 2) : null;
      }
      rows.push({ scenario, metric, main: main.has(metric), values, ratios });
    }
    const errors = Object.fromEntries(
      labels.map((label) => [label, ofScenario.filter((r) => r.target === label && r.error).length]),
    );
    if (Object.values(errors).some(Boolean)) rows.push({ scenario, metric: 'runs that failed', errors });
  }
  return { labels, rows, rounds: roundValues(runs, labels) };
}

/** Each round: its order, and the raw value of every main metric for each target. */
function roundValues(runs, labels) {
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  return rounds.map((n) => {
    const ofRound = runs.filter((r) => r.round === n);
    const values = [];
    for (const scenario of [...new Set(ofRound.map((r) => r.scenario))]) {
      const ofScenario = ofRound.filter((r) => r.scenario === scenario);
      for (const metric of [...new Set(ofScenario.flatMap((r) => r.main_metrics ?? []))]) {
        const byTarget = Object.fromEntries(
          labels.map((label) => [label, ofScenario.find((r) => r.target === label)?.metrics?.[metric] ?? null]),
        );
        values.push({ scenario, metric, values: byTarget });
      }
    }
    return { round: n, order: [...new Set(ofRound.map((r) => r.target))], values };
  });
}

/** The summary as text: the table, then a line per round. */
export function formatSummary(summary) {
  const { labels, rows, rounds } = summary;
  const [first, ...others] = labels;
  const header = ['Scenario', 'Metric', ...labels, ...others.map((o) => `${first} / ${o}`)];
  const table = [header];
  for (const row of rows) {
    if (row.errors) {
      table.push([row.scenario, row.metric, ...labels.map((l) => String(row.errors[l])), ...others.map(() => '')]);
      continue;
    }
    table.push([
      row.scenario,
      `${row.metric}${row.main ? ' *' : ''}`,
      ...labels.map((l) => show(row.values[l])),
      ...others.map((o) => (row.ratios[o] == null ? '' : `${row.ratios[o]}x`)),
    ]);
  }
  const lines = rounds.map(
    ({ round: n, order, values }) =>
      `round ${n} (${order.length > 1 ? `${order[0]} first, then ${order.slice(1).join(', ')}` : order[0]}): ` +
      values
        .map(
          (v) =>
            `${v.scenario} ${v.metric}: ${labels.map((l) => `${l} ${v.values[l] == null ? 'n/a' : round(v.values[l], 2)}`).join(', ')}`,
        )
        .join('; '),
  );
  return [
    '',
    `Summary: the median over ${rounds.length} round(s) for each target; * a main metric, given for each round below`,
    '',
    rows.length ? formatTable(table) : '(no run finished)',
    '',
    ...lines,
    '',
  ].join('\n');
}
