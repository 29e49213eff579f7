import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { freePort } from './free-port.js';
import { request } from './http.js';
import { waitUntil } from './wait-until.js';

/** Debian's `prometheus` package (.ci/debian-packages.txt): the server and its promtool. */
export const PROMETHEUS = process.env.PROMETHEUS_BIN || 'prometheus';
export const PROMTOOL = process.env.PROMTOOL_BIN || 'promtool';

/** The shipped rules and the scrape job they expect (deploy/prometheus/). */
export const RULES_DIR = path.resolve('deploy/prometheus');
export const RULE_FILES = [path.join(RULES_DIR, 'recording-rules.yml'), path.join(RULES_DIR, 'alert-rules.yml')];
export const JOB = 'pillarbox-dispatcher';

const found = new Map<string, boolean>();

function installed(binary: string): boolean {
  if (!found.has(binary)) found.set(binary, spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0);
  return found.get(binary)!;
}

/**
 * `describe` for specs that need `binary` (prometheus or promtool). Without it they are skipped with a loud notice,
 * except under CI=true, where the missing binary fails the run (as describeWithRedis does for redis-server).
 */
function describeWith(binary: string, name: string, fn: () => void): void {
  if (installed(binary)) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it(`needs ${binary}`, () => {
        throw new Error(`${binary} not found, and CI=true: install it (apt-get install prometheus)`);
      });
    });
  } else {
    const line = '!'.repeat(100);
    console.warn(
      `${line}\n!! SKIPPED "${name}": ${binary} is not installed. ` +
        `Install it (apt-get install prometheus) to check the Prometheus rules; CI=true fails instead.\n${line}`,
    );
    describe.skip(name, fn);
  }
}

export const describeWithPrometheus = (name: string, fn: () => void) => describeWith(PROMETHEUS, name, fn);
export const describeWithPromtool = (name: string, fn: () => void) => describeWith(PROMTOOL, name, fn);

/** Runs promtool with `args` (60 s at most); the result with its output, to be checked by the caller. */
export function promtool(args: string[]): SpawnSyncReturns<string> & { text: string } {
  const result = spawnSync(PROMTOOL, args, { encoding: 'utf8', timeout: 60_000 });
  const text = `$ promtool ${args.join(' ')}\n${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
  return { ...result, text };
}

/** The rules of a rule file, as Prometheus reads them. */
export interface RuleFile {
  groups: Array<{
    name: string;
    rules: Array<{
      alert?: string;
      record?: string;
      expr: string;
      for?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    }>;
  }>;
}

export function readRuleFile(file: string): RuleFile {
  return parseYaml(readFileSync(file, 'utf8')) as RuleFile;
}

/** Every rule of the shipped files, alerts and recording rules. */
export function shippedRules(): RuleFile['groups'][number]['rules'] {
  return RULE_FILES.flatMap((file) => readRuleFile(file).groups.flatMap((group) => group.rules));
}

/** An answer of Prometheus' HTTP API (/api/v1/...). */
export interface ApiAnswer<T = unknown> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
  warnings?: string[];
}

export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** What Prometheus' scrape job in the generated configuration looks like. */
export interface PrometheusOptions {
  /** host:port of each instance to scrape. */
  targets: string[];
  /** The bearer token /metrics needs (SUBSCRIBER_TOKENS), written to a file the scrape config names. */
  token?: string;
  /** The rule files to load; the shipped ones by default. */
  ruleFiles?: string[];
}

const running = new Set<ChildProcess>();
// A failed test must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A real Prometheus on 127.0.0.1 and a free port, started and stopped by the test: a generated configuration in a
 * temporary directory (scrapes and rule evaluations every second, the job `pillarbox-dispatcher` on `targets`),
 * its TSDB in that directory too, removed by stop().
 */
export class Prometheus {
  private output = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    readonly port: number,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => this.keep(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.keep(chunk));
  }

  static config(dir: string, options: PrometheusOptions): string {
    const scrape: Record<string, unknown> = {
      job_name: JOB,
      metrics_path: '/metrics',
      static_configs: [{ targets: options.targets }],
    };
    if (options.token !== undefined) {
      const file = path.join(dir, 'token');
      writeFileSync(file, options.token, { mode: 0o600 });
      scrape.authorization = { type: 'Bearer', credentials_file: file };
    }
    // JSON is YAML: no need to write YAML by hand.
    return JSON.stringify(
      {
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: options.ruleFiles ?? RULE_FILES,
        scrape_configs: [scrape],
      },
      null,
      2,
    );
  }

  /** Starts Prometheus and resolves once /-/ready answers 200 (15 s at most). */
  static async start(options: PrometheusOptions): Promise<Prometheus> {
    const dir = mkdtempSync(path.join(tmpdir(), 'prometheus-'));
    const config = path.join(dir, 'prometheus.yml');
    writeFileSync(config, Prometheus.config(dir, options));
    const port = await freePort();
    const child = spawn(
      PROMETHEUS,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(child);
    child.once('exit', () => running.delete(child));
    const prometheus = new Prometheus(child, dir, port);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) =>
        reject(new Error(`prometheus exited (${code ?? signal}):\n${prometheus.output}`)),
      ),
    );
    exited.catch(() => undefined);
    try {
      await Promise.race([
        waitUntil(
          () => request(`${prometheus.url}/-/ready`).then((res) => res.status === 200),
          15_000,
          `prometheus on port ${port} to be ready`,
        ),
        exited,
      ]);
    } catch (err) {
      await prometheus.stop();
      throw err;
    }
    return prometheus;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What Prometheus logged (warnings and errors only). */
  get log(): string {
    return this.output;
  }

  /** GET /api/v1/<endpoint>?<params>, parsed; the answer as it is, status error included. */
  async api<T>(endpoint: string, params: Record<string, string> = {}): Promise<ApiAnswer<T>> {
    const query = new URLSearchParams(params).toString();
    const res = await request(`${this.url}/api/v1/${endpoint}${query ? `?${query}` : ''}`);
    try {
      return JSON.parse(res.body) as ApiAnswer<T>;
    } catch {
      throw new Error(`/api/v1/${endpoint} answered ${res.status}: ${res.body}`);
    }
  }

  /** An instant query, evaluated now. */
  query(expr: string): Promise<ApiAnswer<{ resultType: string; result: VectorSample[] }>> {
    return this.api('query', { query: expr });
  }

  /** Stops Prometheus (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private keep(chunk: Buffer): void {
    this.output += chunk.toString();
    if (this.output.length > 100_000) this.output = this.output.slice(-50_000);
  }
}

/** The metric names a Prometheus text exposition holds: its samples' (a histogram's _bucket, _sum and _count). */
export function exposedMetricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (match) names.add(match[1]);
  }
  return names;
}

/** The series Prometheus makes itself: its scrapes' and its alerts'. */
export const PROMETHEUS_OWN_METRICS = [
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
  'ALERTS',
  'ALERTS_FOR_STATE',
];

/** Aggregation operators: followed by `by`/`without` or by their parenthesis. */
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
/** Keywords followed by a parenthesized list of label names. */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
/** Other words that are not metric names: operators, modifiers and literals. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'atan2', 'bool', 'offset', 'inf', 'nan', 'start', 'end']);

/**
 * The metric names a PromQL expression selects, in order of appearance: the names before `{...}` or standing alone,
 * and `__name__="..."` in a selector without one. Skipped: label matchers, strings, numbers and durations, ranges
 * and subqueries (`[5m]`, `[1h:1m]`), function names (a word followed by `(`), aggregations and keywords, and the
 * label lists of by, without, on, ignoring, group_left and group_right. Keywords are matched in any case, as
 * PromQL does.
 */
export function metricNamesIn(expr: string): string[] {
  const names = new Set<string>();
  const n = expr.length;
  let i = 0;
  const skipString = () => {
    const quote = expr[i++];
    while (i < n && expr[i] !== quote) i += expr[i] === '\\' && quote !== '`' ? 2 : 1;
    if (i >= n) throw new Error(`unterminated string in: ${expr}`);
    i++;
  };
  const skipBalanced = (open: string, close: string) => {
    let depth = 0;
    while (i < n) {
      const c = expr[i];
      if (c === '"' || c === "'" || c === '`') {
        skipString();
        continue;
      }
      i++;
      if (c === open) depth++;
      else if (c === close && --depth === 0) return;
    }
    throw new Error(`unbalanced ${open} in: ${expr}`);
  };
  while (i < n) {
    const c = expr[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < n && expr[i] !== '\n') i++;
    } else if (c === '"' || c === "'" || c === '`') {
      skipString();
    } else if (c === '{') {
      const start = i;
      skipBalanced('{', '}');
      const name = /__name__\s*=\s*"([^"]+)"/.exec(expr.slice(start, i));
      if (name) names.add(name[1]);
    } else if (c === '[') {
      skipBalanced('[', ']');
    } else if (/[0-9.]/.test(c)) {
      // Numbers (0.99, 1e3, 0x1f) and durations (5m, 1h30m).
      while (i < n && /[0-9a-zA-Z_.]/.test(expr[i])) i++;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const start = i;
      while (i < n && /[a-zA-Z0-9_:]/.test(expr[i])) i++;
      const word = expr.slice(start, i);
      const lower = word.toLowerCase();
      let next = i;
      while (next < n && /\s/.test(expr[next])) next++;
      if (LABEL_LISTS.has(lower)) {
        i = next;
        if (expr[i] === '(') skipBalanced('(', ')');
      } else if (!AGGREGATIONS.has(lower) && !KEYWORDS.has(lower) && expr[next] !== '(') {
        names.add(word);
      }
    } else {
      i++;
    }
  }
  return [...names];
}
