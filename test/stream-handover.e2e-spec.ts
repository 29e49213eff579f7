import net from 'node:net';
import { jest } from '@jest/globals';
import {
  Injectable,
  UseInterceptors,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { RouterResponseController } from '@nestjs/core/router/router-response-controller.js';
import type { Request } from 'express';
import { finalize, type Observable } from 'rxjs';
import { EventsController } from '../src/events/events.controller.js';
import { SseHub } from '../src/events/sse-hub.service.js';
import { startApp, type RunningApp } from './support/app.js';
import { json, postEvent, request } from './support/http.js';
import { logs } from './support/log-capture.js';
import { sample, scrape } from './support/metrics.js';
import { SseClient } from './support/sse-client.js';
import { waitUntil } from './support/wait-until.js';

/** Records when Nest's @Sse() machinery lets each stream go: the promise of RouterResponseController.sse(). */
function watchNestStreams(): { settled: () => number; started: () => number } {
  let started = 0;
  let settled = 0;
  const sse = RouterResponseController.prototype.sse;
  jest.spyOn(RouterResponseController.prototype, 'sse').mockImplementation(function (
    this: RouterResponseController,
    ...args: Parameters<typeof sse>
  ) {
    started++;
    const result = sse.apply(this, args);
    void result.finally(() => settled++);
    return result;
  });
  return { settled: () => settled, started: () => started };
}

/** The start-up line of StreamHandover, read from the captured logs. */
function handoverLine(): string {
  const lines = logs.json().filter((line) => line.context === 'StreamHandover');
  expect(lines).toHaveLength(1);
  return String(lines[0].msg);
}

async function subscriberCount(url: string): Promise<number> {
  const details = json(await request(`${url}/health`)).details as Record<string, { count?: number }>;
  return details.subscribers.count ?? -1;
}

/** Counts the streams whose Observable it saw end (complete, error or unsubscribe); other routes pass. */
@Injectable()
class WatchStreamEnd implements NestInterceptor {
  static ended = 0;
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const { path } = context.switchToHttp().getRequest<Request>();
    if (path !== '/events') return next.handle();
    return next.handle().pipe(finalize(() => WatchStreamEnd.ended++));
  }
}

describe('GET /events: the stream is handed over from Nest to the hub once its headers are sent', () => {
  let running: RunningApp;
  let nest: ReturnType<typeof watchNestStreams>;
  beforeAll(async () => {
    logs.clear();
    nest = watchNestStreams();
    running = await startApp();
  });
  afterAll(async () => {
    await running.close();
    jest.restoreAllMocks();
  });

  it('says so at start-up', () => {
    expect(handoverLine()).toMatch(/^GET \/events: each stream is handed over from Nest's @Sse\(\) to SseHub/);
  });

  it("lets Nest's @Sse() settle at once, while the stream goes on: greeting first, then events", async () => {
    const settledBefore = nest.settled();
    const readers = await Promise.all([1, 2, 3].map(() => SseClient.open(`${running.url}/events`)));
    try {
      await waitUntil(() => nest.settled() === settledBefore + 3, 2000, "Nest's @Sse() to settle");
      expect((await postEvent(running.url, '{"n":1}')).status).toBe(204);
      for (const reader of readers) {
        await reader.waitForEvents(1);
        expect(reader.raw).toMatch(/^\n?: connected\n\ndata: \{"n":1,"user_ip":"127\.0\.0\.1"\}\n\n$/);
        expect(reader.ended).toBe(false);
      }
    } finally {
      for (const reader of readers) reader.close();
    }
  });

  it('removes a client that leaves: the count drops, with a disconnect line and its counter', async () => {
    await waitUntil(async () => (await subscriberCount(running.url)) === 0);
    const before = sample(await scrape(running.url), 'pillarbox_subscribers_disconnected_total{reason="client"}');
    logs.clear();
    const reader = await SseClient.open(`${running.url}/events`);
    expect(await subscriberCount(running.url)).toBe(1);
    reader.close();
    await waitUntil(async () => (await subscriberCount(running.url)) === 0, 5000, 'the subscriber to be removed');
    const after = sample(await scrape(running.url), 'pillarbox_subscribers_disconnected_total{reason="client"}');
    expect(after - before).toBe(1);
    const lines = logs.json().filter((line) => line.msg === 'subscriber disconnected');
    expect(lines).toEqual([expect.objectContaining({ reason: 'client', durationMs: expect.any(Number) })]);
  });
});

/**
 * Node stops reading a connection while the answers to requests pipelined behind a stream pile up: a client that
 * leaves then sends a FIN nobody reads. Only a write finds out (the second one after it left fails), which the
 * keep-alives provide (Nest had a probe timer per stream for this).
 */
describe('GET /events: a client that pipelined requests behind its stream and left is noticed', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ SSE_HEARTBEAT_MS: '100' });
  });
  afterAll(() => running.close());

  it('by the keep-alives, though its socket is no longer read', async () => {
    const socket = net.connect(running.port, '127.0.0.1');
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const hub = running.app.get(SseHub);
    const stream = async (): Promise<net.Socket> =>
      waitUntil(() => [...(hub.streamSockets() as Set<net.Socket>)][0], 5000, 'the stream');
    const serverSocket = await stream();
    // Node checks whether the answers waiting behind the stream are too many as each request arrives: in batches.
    const batch = 'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(20);
    for (let i = 0; i < 100 && !serverSocket.isPaused(); i++) {
      socket.write(batch);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(serverSocket.isPaused()).toBe(true);
    socket.destroy();
    await waitUntil(() => hub.size === 0, 5000, 'the subscriber that left to be removed');
    expect(serverSocket.destroyed).toBe(true);
  });
});

describe('GET /events: the handover is off where it would skip a Nest feature, and says why', () => {
  let running: RunningApp | undefined;
  beforeEach(() => {
    logs.clear();
    WatchStreamEnd.ended = 0;
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  /** The interceptor sees the stream end when the client leaves, not before; the stream works as with the hub. */
  async function expectStreamKeptWithNest(app: RunningApp): Promise<void> {
    const reader = await SseClient.open(`${app.url}/events`);
    expect((await postEvent(app.url, '{"n":2}')).status).toBe(204);
    await reader.waitForEvents(1);
    expect(reader.json()).toEqual([{ n: 2, user_ip: '127.0.0.1' }]);
    expect(WatchStreamEnd.ended).toBe(0);
    reader.close();
    await waitUntil(() => WatchStreamEnd.ended === 1, 5000, 'the interceptor to see the stream end');
    await waitUntil(async () => (await subscriberCount(app.url)) === 0);
  }

  it('with a global interceptor (APP_INTERCEPTOR)', async () => {
    running = await startApp({}, { providers: [{ provide: APP_INTERCEPTOR, useClass: WatchStreamEnd }] });
    expect(handoverLine()).toBe(
      "GET /events: each stream stays with Nest's @Sse() until it closes, because of a global interceptor " +
        '(it would see the stream end at once)',
    );
    await expectStreamKeptWithNest(running);
  });

  it('with an interceptor on the route (@UseInterceptors)', async () => {
    const handler = EventsController.prototype.stream;
    UseInterceptors(WatchStreamEnd)(EventsController.prototype, 'stream', { value: handler });
    try {
      running = await startApp({}, { providers: [WatchStreamEnd] });
    } finally {
      Reflect.deleteMetadata(INTERCEPTORS_METADATA, handler);
    }
    expect(handoverLine()).toMatch(/because of an interceptor on the route /);
    await expectStreamKeptWithNest(running);
  });
});
