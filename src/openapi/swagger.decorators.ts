import type * as Swagger from '@nestjs/swagger';
import { OPENAPI_GENERATOR_ENV } from './openapi.constants.js';

/**
 * The @nestjs/swagger decorators the sources use, from this one module. The OpenAPI document is built at build
 * time (openapi.generator.ts sets OPENAPI_GENERATOR_ENV before it loads the application's modules): only then
 * are these the real decorators. The running service gets no-ops and never loads @nestjs/swagger, which costs
 * several MB of RSS at start (docs/performance.md).
 */

const swagger: typeof Swagger | undefined =
  process.env[OPENAPI_GENERATOR_ENV] === '1' ? await import('@nestjs/swagger') : undefined;

/** Whether the decorators below record OpenAPI metadata (the generator checks it). */
export const SWAGGER_DECORATORS_ARE_REAL = swagger !== undefined;

const noDecorator = () => () => undefined;

function decorator<K extends keyof typeof Swagger>(name: K): (typeof Swagger)[K] {
  return swagger ? swagger[name] : (noDecorator as unknown as (typeof Swagger)[K]);
}

export const ApiBadRequestResponse = decorator('ApiBadRequestResponse');
export const ApiBearerAuth = decorator('ApiBearerAuth');
export const ApiBody = decorator('ApiBody');
export const ApiConsumes = decorator('ApiConsumes');
export const ApiExcludeController = decorator('ApiExcludeController');
export const ApiExcludeEndpoint = decorator('ApiExcludeEndpoint');
export const ApiExtraModels = decorator('ApiExtraModels');
export const ApiHeader = decorator('ApiHeader');
export const ApiNoContentResponse = decorator('ApiNoContentResponse');
export const ApiOkResponse = decorator('ApiOkResponse');
export const ApiOperation = decorator('ApiOperation');
export const ApiPayloadTooLargeResponse = decorator('ApiPayloadTooLargeResponse');
export const ApiProperty = decorator('ApiProperty');
export const ApiPropertyOptional = decorator('ApiPropertyOptional');
export const ApiQuery = decorator('ApiQuery');
export const ApiSecurity = decorator('ApiSecurity');
export const ApiServiceUnavailableResponse = decorator('ApiServiceUnavailableResponse');
export const ApiTooManyRequestsResponse = decorator('ApiTooManyRequestsResponse');
export const ApiUnauthorizedResponse = decorator('ApiUnauthorizedResponse');
export const ApiUnsupportedMediaTypeResponse = decorator('ApiUnsupportedMediaTypeResponse');

/** A reference into the document's schemas; only read when the document is generated. */
export const getSchemaPath: (typeof Swagger)['getSchemaPath'] = swagger ? swagger.getSchemaPath : () => '';
