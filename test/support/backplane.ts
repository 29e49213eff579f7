import { json, postEvent, request } from './http.js';
import type { RunningApp } from './app.js';
import { SseClient } from './sse-client.js';

/** GET /health as the backplane specs read it. */
export interface Health {
  status: string;
  details: { backplane: Record<string, unknown> & { status: string } };
}

/** The events the backplane specs post: numbered per instance they are posted to. */
export interface Numbered {
  origin: string;
  n: number;
}

export async function health(app: RunningApp): Promise<{ status: number; body: Health }> {
  const res = await request(`${app.url}/health`);
  return { status: res.status, body: json(res) as unknown as Health };
}

/** A reader of GET /events, once its stream is open (the greeting received). */
export function reader(app: RunningApp): Promise<SseClient> {
  return SseClient.open(`${app.url}/events`);
}

/** POSTs an event; anything but 204 fails the test. */
export async function post(app: RunningApp, event: object): Promise<void> {
  const res = await postEvent(app.url, event);
  if (res.status !== 204) throw new Error(`POST to ${app.url} answered ${res.status} ${res.body}`);
}

export const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Ends a check that nothing more arrives, such as a duplicate (an instance's own event coming back from Redis): posts
 * a marker on each of `apps` and waits until each reader has the markers of the other instances, which Redis relays
 * after anything it relayed before; then takes the markers out of the readers' events. `readers` are the readers
 * with the instance each reads from; the events before must have reached the other instances already.
 */
export async function endWithMarkers(apps: RunningApp[], readers: Array<[RunningApp, SseClient]>): Promise<void> {
  for (const [i, app] of apps.entries()) await post(app, { event_name: 'MARKER', marker: i });
  const isMarker = (event: string) => event.startsWith('{"event_name":"MARKER"');
  await Promise.all(
    readers.map(([app, client]) => {
      const expected = apps.filter((other) => other !== app).length;
      return client.waitFor(
        (c) => c.events.filter((e) => isMarker(e) && !e.includes(`"marker":${apps.indexOf(app)},`)).length >= expected,
        10_000,
        'the markers of the other instances',
      );
    }),
  );
  for (const [, client] of readers) client.events = client.events.filter((e) => !isMarker(e));
}
