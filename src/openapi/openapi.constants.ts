/**
 * Set to 1 by openapi.generator.ts before it loads the application's modules: swagger.decorators.ts then gives
 * the real @nestjs/swagger decorators. A module of its own, so that reading the name loads no decorator.
 */
export const OPENAPI_GENERATOR_ENV = 'PILLARBOX_OPENAPI_GENERATOR';
