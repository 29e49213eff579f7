import { MetricsService } from './metrics.service.js';

async function value(metrics: MetricsService, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  const sample = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  if (!sample) throw new Error(`no ${name} ${JSON.stringify(labels)}`);
  return sample.value;
}

describe('MetricsService', () => {
  it('keeps its own registry, so two instances count apart', async () => {
    const a = new MetricsService();
    const b = new MetricsService();
    a.eventsReceived.inc();
    a.eventRejected('too_large');
    a.subscriberDisconnected('auth');
    expect(await value(a, 'pillarbox_events_received_total')).toBe(1);
    expect(await value(b, 'pillarbox_events_received_total')).toBe(0);
    expect(await value(a, 'pillarbox_events_rejected_total', { reason: 'too_large' })).toBe(1);
    expect(await value(a, 'pillarbox_events_rejected_total', { reason: 'invalid_json' })).toBe(0);
    expect(await value(a, 'pillarbox_subscribers_disconnected_total', { reason: 'auth' })).toBe(1);
  });

  it('reads the subscriber count when scraped', async () => {
    const metrics = new MetricsService();
    let count = 3;
    metrics.countSubscribersWith(() => count);
    expect(await value(metrics, 'pillarbox_subscribers')).toBe(3);
    count = 5;
    expect(await value(metrics, 'pillarbox_subscribers')).toBe(5);
  });

  it('registers the backplane counters on first use only, once', async () => {
    const metrics = new MetricsService();
    expect(await metrics.render()).not.toContain('pillarbox_backplane');
    const backplane = metrics.backplane;
    expect(metrics.backplane).toBe(backplane);
    backplane.published.inc(2);
    backplane.received.inc();
    backplane.errors.inc();
    expect(await value(metrics, 'pillarbox_backplane_published_total')).toBe(2);
    expect(await value(metrics, 'pillarbox_backplane_received_total')).toBe(1);
    expect(await value(metrics, 'pillarbox_backplane_errors_total')).toBe(1);
    expect(await metrics.render()).toMatch(/^# TYPE pillarbox_backplane_published_total counter$/m);
  });
});
