import {
  Catch,
  ForbiddenException,
  Injectable,
  Module,
  UseFilters,
  UseGuards,
  UseInterceptors,
  UsePipes,
  type ArgumentsHost,
  type CallHandler,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
  type MiddlewareConsumer,
  type NestInterceptor,
  type NestModule,
  type PipeTransform,
} from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { EventsController } from '../src/events/events.controller.js';
import { startApp, type RunningApp } from './support/app.js';
import { postEvent, request } from './support/http.js';
import { SseClient } from './support/sse-client.js';

/*
 * Whatever a maintainer adds the Nest way to the ingest and stream routes applies to them: both are ordinary Nest
 * routes (docs/architecture.md). Each kind of enhancer is put where a maintainer would put it, and shows that it
 * ran. The decorators are applied to EventsController here, in this file's own module registry.
 */

@Injectable()
class DenyWithHeader implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.switchToHttp().getRequest<Request>().headers['x-deny'] === undefined) return true;
    throw new ForbiddenException('denied by a route guard');
  }
}

@Injectable()
class MarkResponse implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    context.switchToHttp().getResponse<Response>().setHeader('x-intercepted', context.getHandler().name);
    return next.handle();
  }
}

/** Refuses a stream whose query says so: it sees the route's @Query() argument. */
@Injectable()
class RefuseQuery implements PipeTransform {
  transform(value: unknown): unknown {
    if (value && typeof value === 'object' && 'refuse' in value) throw new ForbiddenException('refused by a pipe');
    return value;
  }
}

@Catch(ForbiddenException)
class TeapotFilter implements ExceptionFilter {
  catch(exception: ForbiddenException, host: ArgumentsHost): void {
    host.switchToHttp().getResponse<Response>().status(418).json({ filtered: exception.message });
  }
}

function markMiddleware(req: Request, res: Response, next: NextFunction): void {
  res.setHeader('x-middleware', 'consumer');
  next();
}

@Module({})
class MiddlewareModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(markMiddleware).forRoutes('api/events', 'events');
  }
}

const method = (name: keyof EventsController) =>
  [EventsController.prototype, name, Object.getOwnPropertyDescriptor(EventsController.prototype, name)!] as const;
UseGuards(DenyWithHeader)(...method('ingest'));
UseGuards(DenyWithHeader)(...method('stream'));
UseInterceptors(MarkResponse)(EventsController);
UsePipes(RefuseQuery)(...method('stream'));
UseFilters(TeapotFilter)(...method('ingest'));
UseFilters(TeapotFilter)(...method('stream'));

describe('guards, interceptors, pipes, filters and middleware on the ingest and stream routes', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp(
      {},
      {
        imports: [MiddlewareModule],
        beforeInit: (app) =>
          app.use((req: Request, res: Response, next: NextFunction) => {
            res.setHeader('x-app-use', req.method);
            next();
          }),
      },
    );
  });
  afterAll(() => running.close());

  it('POST /api/events: middleware of both kinds and the interceptor run, and the event is accepted', async () => {
    const reader = await new SseClient(`${running.url}/events`).connect();
    const res = await postEvent(running.url, { marker: 'accepted' });
    expect(res.status).toBe(204);
    expect(res.headers).toMatchObject({ 'x-app-use': 'POST', 'x-middleware': 'consumer', 'x-intercepted': 'ingest' });
    await reader.waitForEvents(1);
    expect(reader.json()).toEqual([{ marker: 'accepted', user_ip: '127.0.0.1' }]);
    reader.close();
  });

  it('POST /api/events: the guard refuses, the filter answers, and nothing is broadcast', async () => {
    const reader = await new SseClient(`${running.url}/events`).connect();
    const denied = await postEvent(running.url, { marker: 'denied' }, { 'x-deny': '1' });
    expect([denied.status, JSON.parse(denied.body)]).toEqual([418, { filtered: 'denied by a route guard' }]);
    // The marker event after it arrives alone: the refused one was not broadcast.
    expect((await postEvent(running.url, { marker: 'after' })).status).toBe(204);
    await reader.waitForEvents(1);
    expect(reader.json()).toEqual([{ marker: 'after', user_ip: '127.0.0.1' }]);
    reader.close();
  });

  it('GET /events: middleware, the interceptor, the guard, the pipe and the filter all apply', async () => {
    const reader = await new SseClient(`${running.url}/events`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
    expect(reader.headers).toMatchObject({
      'content-type': 'text/event-stream',
      'x-app-use': 'GET',
      'x-middleware': 'consumer',
      'x-intercepted': 'stream',
    });
    reader.close();
    const guarded = await request(`${running.url}/events`, { headers: { 'x-deny': '1' } });
    expect([guarded.status, JSON.parse(guarded.body)]).toEqual([418, { filtered: 'denied by a route guard' }]);
    const piped = await request(`${running.url}/events?refuse=1`);
    expect([piped.status, JSON.parse(piped.body)]).toEqual([418, { filtered: 'refused by a pipe' }]);
  });
});
