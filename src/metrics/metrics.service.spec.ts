import { loadConfig } from '../config/app-config.js';
import { MetricsService } from './metrics.service.js';

const config = loadConfig({});

async function value(metrics: MetricsService, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  const sample = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  if (!sample) throw new Error(`no ${name} ${JSON.stringify(labels)}`);
  return sample.value;
}

describe('MetricsService', () => {
  it('keeps its own registry, so two instances count apart', async () => {
    const a = new MetricsService(config);
    const b = new MetricsService(config);
    a.eventsReceived.inc();
    a.eventRejected('too_large');
    a.subscriberDisconnected('auth');
    expect(await value(a, 'pillarbox_events_received_total')).toBe(1);
    expect(await value(b, 'pillarbox_events_received_total')).toBe(0);
    expect(await value(a, 'pillarbox_events_rejected_total', { reason: 'too_large' })).toBe(1);
    expect(await value(a, 'pillarbox_events_rejected_total', { reason: 'invalid_json' })).toBe(0);
    expect(await value(a, 'pillarbox_subscribers_disconnected_total', { reason: 'auth' })).toBe(1);
  });

  it('reads the stream gauges when scraped, and gives the limits in force', async () => {
    const metrics = new MetricsService(loadConfig({ MAX_SUBSCRIBERS: '77' }, { memoryLimitBytes: 512 * 1024 * 1024 }));
    let count = 3;
    let unsent = 1000;
    metrics.observeStreams({ subscribers: () => count, unsentBytes: () => unsent });
    expect(await value(metrics, 'pillarbox_subscribers')).toBe(3);
    expect(await value(metrics, 'pillarbox_stream_unsent_bytes')).toBe(1000);
    count = 5;
    unsent = 0;
    expect(await value(metrics, 'pillarbox_subscribers')).toBe(5);
    expect(await value(metrics, 'pillarbox_stream_unsent_bytes')).toBe(0);
    expect(await value(metrics, 'pillarbox_subscribers_max')).toBe(77);
    expect(await value(metrics, 'pillarbox_stream_unsent_budget_bytes')).toBe(128 * 1024 * 1024);
    expect(await value(metrics, 'pillarbox_memory_limit_bytes')).toBe(512 * 1024 * 1024);
    expect(await new MetricsService(config).render()).not.toContain('pillarbox_memory_limit_bytes');
  });

  it('registers the backplane counters on first use only, once', async () => {
    const metrics = new MetricsService(config);
    expect(await metrics.render()).not.toContain('pillarbox_backplane');
    const backplane = metrics.backplane;
    expect(metrics.backplane).toBe(backplane);
    backplane.published.inc(2);
    backplane.received.inc();
    backplane.errors.inc({ reason: 'invalid' });
    expect(await value(metrics, 'pillarbox_backplane_up')).toBe(0);
    backplane.up.set(1);
    expect(await value(metrics, 'pillarbox_backplane_up')).toBe(1);
    expect(await value(metrics, 'pillarbox_backplane_published_total')).toBe(2);
    expect(await value(metrics, 'pillarbox_backplane_received_total')).toBe(1);
    expect(await value(metrics, 'pillarbox_backplane_errors_total', { reason: 'invalid' })).toBe(1);
    expect(await value(metrics, 'pillarbox_backplane_errors_total', { reason: 'dropped' })).toBe(0);
    expect(await metrics.render()).toMatch(/^# TYPE pillarbox_backplane_published_total counter$/m);
  });
});
