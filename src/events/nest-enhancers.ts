import type { Type } from '@nestjs/common';
import { INTERCEPTORS_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import type { ApplicationConfig } from '@nestjs/core';

/** Whether an interceptor applies to every route: `app.useGlobalInterceptors()` or an `APP_INTERCEPTOR` provider. */
export function hasGlobalInterceptor(app: ApplicationConfig): boolean {
  return app.getGlobalInterceptors().length + app.getGlobalRequestInterceptors().length > 0;
}

/** Whether `@UseInterceptors()` is put on `controller` or on its route `handler`. */
export function hasRouteInterceptor(controller: Type, handler: object): boolean {
  return [controller, handler].some(
    (target) => ((Reflect.getMetadata(INTERCEPTORS_METADATA, target) as unknown[] | undefined)?.length ?? 0) > 0,
  );
}

/** Whether a parameter of the route `controller.prototype[method]` takes a custom decorator's value (its `factory`). */
export function hasCustomParameter(controller: Type, method: string): boolean {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ?? {}) as Record<
    string,
    { factory?: unknown }
  >;
  return Object.values(args).some((arg) => typeof arg.factory === 'function');
}
