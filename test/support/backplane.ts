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
export async function reader(app: RunningApp): Promise<SseClient> {
  const client = await new SseClient(`${app.url}/events`).connect();
  await client.waitFor((c) => c.comments > 0, 2000, 'the greeting');
  return client;
}

/** POSTs an event; anything but 204 fails the test. */
export async function post(app: RunningApp, event: object): Promise<void> {
  const res = await postEvent(app.url, event);
  if (res.status !== 204) throw new Error(`POST to ${app.url} answered ${res.status} ${res.body}`);
}

export const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Time for a duplicate (an instance's own event coming back from Redis) to arrive, if there were one. */
export const settle = () => new Promise((r) => setTimeout(r, 300));
