import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startApp, type RunningApp } from './support/app.js';
import { postEvent, request } from './support/http.js';
import {
  JOB,
  PROMETHEUS_OWN_METRICS,
  Prometheus,
  describeWithPrometheus,
  exposedMetricNames,
  metricNamesIn,
  shippedRules,
  type VectorSample,
} from './support/prometheus.js';
import { RedisServer, describeWithRedis } from './support/redis-server.js';
import { SseClient } from './support/sse-client.js';
import { waitUntil } from './support/wait-until.js';

const DASHBOARD_FILE = path.resolve('deploy/grafana/pillarbox-dispatcher.json');
const TOKEN = 'prometheus-scrape-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
/** Plays the container's memory limit, so that pillarbox_memory_limit_bytes is exported. */
const MEMORY_LIMIT = 4 * 1024 ** 3;

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
  definition?: string;
  datasource?: { type?: string; uid?: string };
  multi?: boolean;
  includeAll?: boolean;
}
interface Dashboard {
  __inputs?: Array<{ type: string }>;
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;

/** Every panel, those inside rows included. */
function allPanels(panels: Panel[] = dashboard.panels): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** The PromQL of every panel target, each with where it comes from. */
function dashboardQueries(): Array<{ where: string; expr: string }> {
  return allPanels().flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      where: `panel "${panel.title}" ${target.refId}`,
      expr: target.expr ?? '',
    })),
  );
}

/** The selectors of the dashboard's query variables: `label_values(<selector>, <label>)`. */
function variableSelectors(): Array<{ where: string; selector: string; label: string }> {
  return dashboard.templating.list
    .filter((variable) => variable.type === 'query')
    .map((variable) => {
      const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
      const match = /^label_values\((.+),\s*(\w+)\)$/.exec(query.trim());
      if (!match) throw new Error(`variable ${variable.name}: not a label_values() query: ${query}`);
      return { where: `variable ${variable.name}`, selector: match[1], label: match[2] };
    });
}

/**
 * What Grafana puts in place of the dashboard's variables: `vars` for the template variables, and the built-in
 * intervals. Fails on a variable it does not know.
 */
function substitute(expr: string, vars: Record<string, string>): string {
  const all: Record<string, string> = { __rate_interval: '15s', __interval: '5s', __range: '1m', ...vars };
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    if (!(name in all)) throw new Error(`unknown variable ${whole} in: ${expr}`);
    return all[name];
  });
}

/** A multi-value variable as Grafana's Prometheus data source writes it in a regex matcher: escaped, in a group. */
function multiValue(values: string[]): string {
  return `(${values.map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&')).join('|')})`;
}

describe('deploy/grafana: the dashboard is well formed', () => {
  it('is a current dashboard with a datasource variable of type prometheus and a multi-value instance variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.title).toBeTruthy();
    // No data source to pick at import: the variable picks it.
    expect(dashboard.__inputs ?? []).toEqual([]);
    const byName = Object.fromEntries(dashboard.templating.list.map((variable) => [variable.name, variable]));
    expect(byName.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(byName.instance).toMatchObject({ type: 'query', multi: true, includeAll: true });
    expect(byName.instance.definition).toMatch(/^label_values\(pillarbox_build_info(\{[^}]*\})?, instance\)$/);
  });

  it('has unique panel ids, a gridPos each, and targets with an expr and a refId on the datasource variable', () => {
    const panels = allPanels();
    const ids = panels.map((panel) => panel.id);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) {
      const where = `panel ${panel.id} "${panel.title}"`;
      const { x, y, w, h } = panel.gridPos ?? ({} as Record<string, undefined>);
      expect({ where, gridPos: [x, y, w, h].every(Number.isInteger) && x! >= 0 && w! > 0 && x! + w! <= 24 }).toEqual({
        where,
        gridPos: true,
      });
      if (panel.type === 'row' || panel.type === 'text') continue;
      expect({ where, targets: (panel.targets ?? []).length > 0 }).toEqual({ where, targets: true });
      expect({ where, datasource: panel.datasource }).toEqual({
        where,
        datasource: { type: 'prometheus', uid: '${datasource}' },
      });
      const refIds = panel.targets!.map((target) => target.refId);
      expect({ where, refIds: new Set(refIds).size }).toEqual({ where, refIds: refIds.length });
      for (const target of panel.targets!) {
        expect({ where, refId: target.refId, expr: target.expr, datasource: target.datasource }).toEqual({
          where,
          refId: expect.stringMatching(/^\S+$/),
          expr: expect.stringContaining('instance=~"$instance"'),
          datasource: { type: 'prometheus', uid: '${datasource}' },
        });
      }
    }
  });

  it('refers to data sources through the variable only', () => {
    const references: unknown[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (node === null || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'datasource') references.push(value);
        walk(value);
      }
    };
    walk(dashboard.panels);
    walk(dashboard.templating.list.filter((variable) => variable.type !== 'datasource'));
    expect(references.length).toBeGreaterThan(0);
    expect(new Set(references.map((ref) => JSON.stringify(ref)))).toEqual(
      new Set([JSON.stringify({ type: 'prometheus', uid: '${datasource}' })]),
    );
  });
});

describe('metricNamesIn: the metric names of a PromQL expression', () => {
  it('skips matchers, strings, functions, keywords, label lists, numbers and durations', () => {
    const expr = `
      sum by (job, instance, reason) (rate(foo_total{reason!="aborted", le=~"0.1|bar"}[5m] offset 1m))
        / on (job, instance) group_left (version)
      (bar:recorded:rate5m + ignoring (reason) {__name__="baz_bytes"} * 1e-3 > bool 0.5)
      and ON(job) label_replace(up, "dst", "$1 qux", "src", "(.*)") or vector(0) unless topk(3, quux[1h:1m]) # corge
      + count_values("value", min_over_time(grault[5m])) - histogram_quantile(0.99, garply_bucket) + Inf`;
    expect(metricNamesIn(expr)).toEqual([
      'foo_total',
      'bar:recorded:rate5m',
      'baz_bytes',
      'up',
      'quux',
      'grault',
      'garply_bucket',
    ]);
  });
});

describeWithPrometheus('Prometheus with the shipped rules, scraping two instances joined by Redis', () => {
  describeWithRedis('the rules and the dashboard against real metrics', () => {
    let redis: RedisServer;
    let instances: RunningApp[] = [];
    let prometheus: Prometheus;
    let reader: SseClient;
    let traffic: { stop(): Promise<void> };
    const rules = shippedRules();
    const records = rules.flatMap((rule) => (rule.record ? [rule.record] : []));

    /** POSTs good and bad events to the instances in turn, and a stream request without a token now and then. */
    function startTraffic(urls: string[]): typeof traffic {
      let stopped = false;
      let n = 0;
      let failure: unknown;
      const loop = (async () => {
        while (!stopped) {
          // Each instance in turn gets each kind of request.
          const url = urls[n % urls.length];
          const round = Math.floor(n++ / urls.length);
          if (round % 10 === 9) {
            await postEvent(url, '{"event_name":'); // invalid_json
          } else if (round % 15 === 14) {
            await postEvent(url, '[1, 2]'); // not_object
          } else if (round % 25 === 24) {
            await request(`${url}/events`); // 401: a stream refused, reason auth
          } else {
            const event = { event_name: 'HEARTBEAT', session_id: `s${n % 7}`, timestamp: Date.now() };
            const res = await postEvent(url, event);
            if (res.status !== 204) throw new Error(`POST /api/events answered ${res.status}: ${res.body}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 15));
        }
      })().catch((err: unknown) => {
        failure = err;
      });
      return {
        async stop() {
          stopped = true;
          await loop;
          if (failure) throw failure;
        },
      };
    }

    async function query(expr: string): Promise<VectorSample[]> {
      const answer = await prometheus.query(expr);
      if (answer.status !== 'success' || answer.error || answer.warnings?.length) {
        throw new Error(
          `${expr}: ${answer.status} ${answer.errorType ?? ''} ${answer.error ?? ''} ${answer.warnings ?? ''}`,
        );
      }
      return answer.data.result;
    }

    beforeAll(async () => {
      redis = await RedisServer.start();
      const env = { REDIS_URL: redis.url, SUBSCRIBER_TOKENS: TOKEN };
      instances = await Promise.all([0, 1].map(() => startApp(env, { memoryLimitBytes: MEMORY_LIMIT })));
      prometheus = await Prometheus.start({ targets: instances.map((app) => `127.0.0.1:${app.port}`), token: TOKEN });
      reader = await SseClient.open(`${instances[0].url}/events`, AUTH);
      traffic = startTraffic(instances.map((app) => app.url));
    }, 20_000);

    afterAll(async () => {
      await traffic?.stop();
      reader?.close();
      await prometheus?.stop();
      await Promise.all(instances.map((app) => app.close()));
      await redis?.stop();
    });

    it('scrapes both instances, with the bearer token that /metrics needs', async () => {
      await waitUntil(
        async () => {
          const up = await query(`up{job="${JOB}"}`);
          return up.length === 2 && up.every((sample) => sample.value[1] === '1');
        },
        // Prometheus 2.x applies new targets on a 5 s tick: the first scrapes come 5 to 6 s after its start.
        12_000,
        'both targets up',
      ).catch(async (err: Error) => {
        const targets = await prometheus.api('targets');
        throw new Error(`${err.message}\ntargets: ${JSON.stringify(targets.data)}\n${prometheus.log}`);
      });
      // Without the token, /metrics is refused: the scrape config's token is what made them up.
      expect((await request(`${instances[0].url}/metrics`)).status).toBe(401);
    });

    it('loads every rule of both files and evaluates each without error', async () => {
      type Rules = {
        groups: Array<{ file: string; rules: Array<{ name: string; health: string; lastError?: string }> }>;
      };
      const loaded = await waitUntil(
        async () => {
          const answer = await prometheus.api<Rules>('rules');
          const all = answer.data.groups.flatMap((group) => group.rules);
          return all.length === rules.length && all.every((rule) => rule.health !== 'unknown') && all;
        },
        10_000,
        'every rule evaluated once',
      );
      expect(loaded.filter((rule) => rule.health !== 'ok' || rule.lastError)).toEqual([]);
    });

    it('produces a series for every recording rule, with the traffic in them', async () => {
      await waitUntil(
        async () => {
          const empty: string[] = [];
          for (const record of records) if ((await query(record)).length === 0) empty.push(record);
          if (empty.length) throw new Error(`no series yet for ${empty.join(', ')}`);
          return true;
        },
        10_000,
        'a series for every recording rule',
      );
      // The traffic shows: events and refusals on both instances, frames on the reader's, the events of each
      // instance received by the other, the memory limit played.
      const positive = async (expr: string) => (await query(`${expr} > 0`)).length;
      const seen = async () => ({
        accepted: await positive('pillarbox:events_received:rate5m'),
        invalidJson: await positive('pillarbox:events_rejected:rate5m{reason="invalid_json"}'),
        refusedShare: await positive('pillarbox:events_rejected:ratio_rate5m{reason="not_object"}'),
        refusedStreams: await positive('pillarbox:subscribers_disconnected:rate5m{reason="auth"}'),
        frames: await positive('pillarbox:frames_delivered:rate5m'),
        published: await positive('pillarbox:backplane_published:rate5m'),
        received: await positive('pillarbox:backplane_received:rate5m'),
        ingestP99: await positive('pillarbox:ingest_duration_seconds:p99_rate5m'),
        memory: await positive('pillarbox:memory_rss:ratio_limit'),
        subscribers: await positive('pillarbox:subscribers:ratio_max'),
      });
      const expected = {
        accepted: 2,
        invalidJson: 2,
        refusedShare: 2,
        refusedStreams: 2,
        frames: 1,
        published: 2,
        received: 2,
        ingestP99: 2,
        memory: 2,
        subscribers: 1,
      };
      await waitUntil(
        async () => {
          expect(await seen()).toEqual(expected);
          return true;
        },
        5000,
        'the traffic in the recorded series',
      );
    });

    it('evaluates the expression of every rule, alerts and recording rules, without error', async () => {
      const failed: string[] = [];
      for (const rule of rules) {
        await query(rule.expr).catch((err: Error) => failed.push(`${rule.alert ?? rule.record}: ${err.message}`));
      }
      expect(failed).toEqual([]);
    });

    it('evaluates every dashboard query, with the instances chosen one by one or All, each showing series', async () => {
      const ports = instances.map((app) => `127.0.0.1:${app.port}`);
      const choices = {
        chosen: { job: multiValue([JOB]), instance: multiValue(ports) },
        all: { job: '.+', instance: '.+' },
      };
      const queries = dashboardQueries();
      expect(queries.length).toBeGreaterThan(10);
      for (const [choice, vars] of Object.entries(choices)) {
        // An error fails at once; a query without series yet is tried again (the 5m rates need two scrapes).
        const errors = await waitUntil(
          async () => {
            const failures: string[] = [];
            const empty: string[] = [];
            for (const { where, expr } of queries) {
              const result = await query(substitute(expr, vars)).catch((err: Error) => err);
              if (result instanceof Error) failures.push(`${where}: ${result.message}`);
              else if (result.length === 0) empty.push(`${where}: ${substitute(expr, vars)}`);
            }
            if (failures.length === 0 && empty.length) throw new Error(`no series for\n${empty.join('\n')}`);
            return failures;
          },
          8000,
          `every dashboard query to show series (${choice})`,
        );
        expect(errors).toEqual([]);
      }
      for (const { where, selector, label } of variableSelectors()) {
        const values = (await query(substitute(selector, { job: '.+' }))).map((sample) => sample.metric[label]);
        expect({ where, values: [...new Set(values)].sort() }).toEqual({
          where,
          values: label === 'instance' ? [...ports].sort() : [JOB],
        });
      }
    });

    it('names only metrics that the instances export, that Prometheus makes, or that a rule records', async () => {
      const known = new Set([...PROMETHEUS_OWN_METRICS, ...records]);
      for (const app of instances) {
        const res = await request(`${app.url}/metrics`, { headers: AUTH });
        expect(res.status).toBe(200);
        for (const name of exposedMetricNames(res.body)) known.add(name);
      }
      // The names this check relies on are there: the memory limit played, the backplane's.
      expect([...known]).toEqual(
        expect.arrayContaining(['pillarbox_memory_limit_bytes', 'pillarbox_backplane_up', 'up', 'ALERTS']),
      );
      const expressions = [
        ...rules.map((rule) => ({ where: `rule ${rule.alert ?? rule.record}`, expr: rule.expr })),
        ...dashboardQueries().map(({ where, expr }) => ({
          where,
          expr: substitute(expr, { job: '.+', instance: '.+' }),
        })),
        ...variableSelectors().map(({ where, selector }) => ({ where, expr: substitute(selector, { job: '.+' }) })),
      ];
      const unknown: string[] = [];
      for (const { where, expr } of expressions) {
        const names = metricNamesIn(expr);
        if (names.length === 0) unknown.push(`${where}: names no metric at all`);
        for (const name of names) if (!known.has(name)) unknown.push(`${where}: ${name}`);
      }
      expect(unknown).toEqual([]);
    });
  });
});
