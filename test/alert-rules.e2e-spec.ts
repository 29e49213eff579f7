import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { RULE_FILES, RULES_DIR, describeWithPromtool, promtool, readRuleFile } from './support/prometheus.js';

const TESTS_DIR = path.join(RULES_DIR, 'tests');
const SAMPLE_CONFIG = path.join(RULES_DIR, 'prometheus.yml');
const RUNBOOK = 'https://github.com/SRGSSR/pillarbox-event-dispatcher/blob/main/docs/operations.md#';

interface UnitTests {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts?: unknown[] }> }>;
}

const testFiles = readdirSync(TESTS_DIR)
  .filter((name) => /\.ya?ml$/.test(name))
  .map((name) => path.join(TESTS_DIR, name));
const alerts = RULE_FILES.flatMap((file) => readRuleFile(file).groups.flatMap((group) => group.rules)).filter(
  (rule) => rule.alert !== undefined,
);

/** The `## Alerts` section of docs/operations.md: the runbook the alerts' runbook_url point into. */
function alertsSection(): string {
  const doc = readFileSync(path.resolve('docs/operations.md'), 'utf8');
  const start = doc.indexOf('\n## Alerts\n');
  if (start < 0) return '';
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

describeWithPromtool('deploy/prometheus: promtool checks the rules, the sample config and the unit tests', () => {
  it('finds the two rule files valid', () => {
    const result = promtool(['check', 'rules', ...RULE_FILES]);
    expect({ status: result.status, output: result.text }).toEqual({ status: 0, output: expect.any(String) });
  });

  it('finds the sample scrape config valid, with its rule files and a token file where it says', () => {
    // As shipped (the token file it names does not exist here):
    const syntax = promtool(['check', 'config', '--syntax-only', SAMPLE_CONFIG]);
    expect({ status: syntax.status, output: syntax.text }).toEqual({ status: 0, output: expect.any(String) });
    // Fully, rule files included, with the token file made to exist:
    const dir = mkdtempSync(path.join(tmpdir(), 'prometheus-config-'));
    try {
      const config = parseYaml(readFileSync(SAMPLE_CONFIG, 'utf8')) as {
        rule_files: string[];
        scrape_configs: Array<{ job_name: string; authorization?: { type: string; credentials_file: string } }>;
      };
      const [job] = config.scrape_configs;
      expect(job.job_name).toBe('pillarbox-dispatcher');
      expect(job.authorization?.type).toBe('Bearer');
      writeFileSync(path.join(dir, 'token'), 'a-subscriber-token-0123456789');
      job.authorization!.credentials_file = path.join(dir, 'token');
      config.rule_files = config.rule_files.map((file) => path.resolve(RULES_DIR, file));
      expect(config.rule_files.sort()).toEqual([...RULE_FILES].sort());
      writeFileSync(path.join(dir, 'prometheus.yml'), stringifyYaml(config));
      const full = promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
      expect({ status: full.status, output: full.text }).toEqual({ status: 0, output: expect.any(String) });
      expect(full.text).toContain('SUCCESS: 2 rule files found');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes the unit tests of deploy/prometheus/tests/', () => {
    expect(testFiles.length).toBeGreaterThan(0);
    const result = promtool(['test', 'rules', ...testFiles]);
    expect({ status: result.status, output: result.text }).toEqual({ status: 0, output: expect.any(String) });
  });

  it('tests every alert: a case where it fires and a case where it stays quiet, and no alert that does not exist', () => {
    const fires = new Set<string>();
    const quiet = new Set<string>();
    for (const file of testFiles) {
      const unit = parseYaml(readFileSync(file, 'utf8')) as UnitTests;
      // The unit tests load the shipped rule files, not copies.
      const loaded = unit.rule_files.map((rules) => path.resolve(path.dirname(file), rules));
      expect(loaded.sort()).toEqual([...RULE_FILES].sort());
      for (const test of unit.tests) {
        for (const check of test.alert_rule_test ?? []) {
          (check.exp_alerts?.length ? fires : quiet).add(check.alertname);
        }
      }
    }
    const names = alerts.map((rule) => rule.alert!);
    expect({
      untestedFiring: names.filter((name) => !fires.has(name)),
      untestedQuiet: names.filter((name) => !quiet.has(name)),
      unknown: [...new Set([...fires, ...quiet])].filter((name) => !names.includes(name)),
    }).toEqual({ untestedFiring: [], untestedQuiet: [], unknown: [] });
  });
});

describe('deploy/prometheus: the rules follow the conventions and each alert has its runbook entry', () => {
  it('names, for:, severity, annotations and a runbook_url to its own entry of docs/operations.md', () => {
    const runbook = alertsSection();
    expect(runbook).not.toBe('');
    expect(alerts.length).toBeGreaterThan(0);
    const names = alerts.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of alerts) {
      const name = rule.alert!;
      const shape = {
        name,
        for: rule.for,
        severity: rule.labels?.severity,
        annotations: Object.keys(rule.annotations ?? {}).sort(),
        runbook_url: rule.annotations?.runbook_url,
        entry: runbook.includes(`\n### ${name}\n`),
      };
      expect(shape).toEqual({
        name: expect.stringMatching(/^Pillarbox[A-Z][A-Za-z]+$/),
        for: expect.stringMatching(/^\d+[smh]$/),
        severity: expect.stringMatching(/^(page|ticket)$/),
        annotations: ['description', 'runbook_url', 'summary'],
        runbook_url: `${RUNBOOK}${name.toLowerCase()}`,
        entry: true,
      });
    }
  });

  it('prefixes every recording rule with pillarbox: and records each name once', () => {
    const records = RULE_FILES.flatMap((file) => readRuleFile(file).groups.flatMap((group) => group.rules))
      .map((rule) => rule.record)
      .filter((record) => record !== undefined);
    expect(records.length).toBeGreaterThan(0);
    expect(new Set(records).size).toBe(records.length);
    for (const record of records) expect(record).toMatch(/^pillarbox:[a-z0-9_]+:[a-z0-9_]+$/);
  });
});
