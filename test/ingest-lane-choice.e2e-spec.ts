import type { Server } from 'node:http';
import {
  Injectable,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import type { Response } from 'express';
import type { Observable } from 'rxjs';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { startApp, type RunningApp } from './support/app.js';
import { postEvent, request } from './support/http.js';
import { logs } from './support/log-capture.js';

@Injectable()
class DenyAll implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@Injectable()
class MarkResponses implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    context.switchToHttp().getResponse<Response>().setHeader('x-intercepted', 'yes');
    return next.handle();
  }
}

/** Whether the lane before Express took Express's place among the HTTP server's request listeners. */
function servedBeforeExpress(running: RunningApp): boolean {
  const server = running.app.getHttpServer() as Server;
  return !server.listeners('request').includes(running.app.getHttpAdapter().getInstance());
}

async function accepted(running: RunningApp): Promise<number> {
  const metric = await running.app
    .get(MetricsService)
    .registry.getSingleMetric('pillarbox_events_received_total')
    ?.get();
  return metric?.values[0]?.value ?? 0;
}

/** The start-up line of IngestFastLane, read from the captured logs. */
function laneLine(): string {
  const lines = logs.json().filter((line) => line.context === 'IngestLane');
  expect(lines).toHaveLength(1);
  return String(lines[0].msg);
}

/**
 * The lane before Express serves POST /api/events only when nothing that Nest would run on the route is
 * configured: global guards, interceptors and prefixes apply to ingest as to every other route.
 */
describe('ingest: the lane is chosen by what is configured, and says which', () => {
  let running: RunningApp | undefined;
  beforeEach(() => logs.clear());
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('serves before Express by default, and says so', async () => {
    running = await startApp();
    expect(laneLine()).toMatch(/^POST \/api\/events is served before Express by IngestFastLane/);
    expect(servedBeforeExpress(running)).toBe(true);
    expect((await postEvent(running.url, '{"a":1}')).status).toBe(204);
  });

  it('applies a global guard that refuses everything (APP_GUARD)', async () => {
    running = await startApp({}, { providers: [{ provide: APP_GUARD, useClass: DenyAll }] });
    expect(laneLine()).toBe("POST /api/events is served by Nest's router, because of a global guard");
    expect(servedBeforeExpress(running)).toBe(false);
    const res = await postEvent(running.url, '{"a":1}');
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toEqual({ statusCode: 403, message: 'Forbidden resource', error: 'Forbidden' });
    expect(await accepted(running)).toBe(0);
  });

  it('applies a global interceptor (APP_INTERCEPTOR)', async () => {
    running = await startApp({}, { providers: [{ provide: APP_INTERCEPTOR, useClass: MarkResponses }] });
    expect(laneLine()).toBe("POST /api/events is served by Nest's router, because of a global interceptor");
    const res = await postEvent(running.url, '{"a":1}');
    expect(res.status).toBe(204);
    expect(res.headers['x-intercepted']).toBe('yes');
    expect(await accepted(running)).toBe(1);
  });

  it('serves the route under a global prefix only, once', async () => {
    running = await startApp({}, { beforeInit: (app) => app.setGlobalPrefix('v1') });
    expect(laneLine()).toBe(
      "POST /api/events is served by Nest's router, because of the global prefix v1, the route is not at /api/events",
    );
    expect((await postEvent(running.url, '{"a":1}')).status).toBe(404);
    const res = await request(`${running.url}/v1/api/events`, { method: 'POST', body: '{"a":1}' });
    expect(res.status).toBe(204);
    expect(await accepted(running)).toBe(1);
  });

  it('names the rate limit when it keeps the route with Nest', async () => {
    running = await startApp({ RATE_LIMIT_PER_MINUTE: '1000' });
    expect(laneLine()).toBe("POST /api/events is served by Nest's router, because of RATE_LIMIT_PER_MINUTE=1000");
    expect(servedBeforeExpress(running)).toBe(false);
  });

  it("keeps the HTTP server's other request listeners (an APM agent's) and calls them as before", async () => {
    const seen: string[] = [];
    running = await startApp(
      {},
      { beforeInit: (app) => (app.getHttpServer() as Server).on('request', (req) => seen.push(`${req.method}`)) },
    );
    expect(servedBeforeExpress(running)).toBe(true);
    expect((await postEvent(running.url, '{"a":1}')).status).toBe(204);
    expect((await request(`${running.url}/health/live`)).status).toBe(200);
    expect(seen).toEqual(['POST', 'GET']);
    expect(await accepted(running)).toBe(1);
  });
});
