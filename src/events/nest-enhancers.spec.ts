import {
  Controller,
  Get,
  Injectable,
  Query,
  UseInterceptors,
  createParamDecorator,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { Observable } from 'rxjs';
import { hasCustomParameter, hasRouteInterceptor } from './nest-enhancers.js';

@Injectable()
class Passthrough implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

const Custom = createParamDecorator(() => 'custom');

@Controller()
class Plain {
  @Get('a')
  a(@Query() _query: unknown): void {}

  @Get('b')
  @UseInterceptors(Passthrough)
  b(@Custom() _value: unknown): void {}
}

@Controller()
@UseInterceptors(Passthrough)
class Intercepted {
  @Get('c')
  c(): void {}
}

describe('the Nest enhancers of a route, as StreamHandover reads them', () => {
  it('finds an interceptor on the handler or on the controller, and none elsewhere', () => {
    expect(hasRouteInterceptor(Plain, Plain.prototype.a)).toBe(false);
    expect(hasRouteInterceptor(Plain, Plain.prototype.b)).toBe(true);
    expect(hasRouteInterceptor(Intercepted, Intercepted.prototype.c)).toBe(true);
  });

  it("finds a custom parameter decorator, not Nest's own ones", () => {
    expect(hasCustomParameter(Plain, 'a')).toBe(false);
    expect(hasCustomParameter(Plain, 'b')).toBe(true);
    expect(hasCustomParameter(Intercepted, 'c')).toBe(false);
  });
});
