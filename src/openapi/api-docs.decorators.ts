import { applyDecorators } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiExtraModels,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiQuery,
  ApiSecurity,
  ApiServiceUnavailableResponse,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
  ApiUnsupportedMediaTypeResponse,
  ApiUriTooLongResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import { EVENT_EXAMPLES } from '../schema/event-examples.js';
import { BroadcastEventDto, MonitoringEventDto } from '../schema/monitoring-event.dto.js';
import { HttpErrorDto } from './http-error.dto.js';

/** Names of the security schemes declared in openapi.setup.ts. */
export const BEARER_SCHEME = 'subscriber-token';
export const QUERY_TOKEN_SCHEME = 'access_token';

const error = (description: string, example: Record<string, unknown>) => ({
  description,
  type: HttpErrorDto,
  example,
});

const requestExamples = Object.fromEntries(
  Object.entries(EVENT_EXAMPLES).map(([name, value]) => [name, { summary: `${name} event`, value }]),
);

const streamExample = Object.values(EVENT_EXAMPLES)
  .map((event) => `data: ${JSON.stringify({ ...event, user_ip: '203.0.113.7' })}\n\n`)
  .join('');

/** Both ways of presenting a subscriber token; each is enough. */
const TokenSecurity = () =>
  applyDecorators(
    ApiBearerAuth(BEARER_SCHEME),
    ApiSecurity(QUERY_TOKEN_SCHEME),
    ApiUnauthorizedResponse(
      error(
        'A token is configured (SUBSCRIBER_TOKENS, JWT_SECRET or JWT_JWKS_URL) and the request has none, a wrong one or an expired one. The answer has `WWW-Authenticate: Bearer`.',
        {
          statusCode: 401,
          error: 'Unauthorized',
          message: 'A subscriber token is required: Authorization: Bearer <token> or ?access_token=<token>',
        },
      ),
    ),
  );

export const DocumentIngest = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Send one playback-monitoring event',
      description:
        'Any JSON object is accepted (with STRICT_SCHEMA=true: the monitoring envelope below). Any Content-Type, ' +
        'so that `navigator.sendBeacon` (text/plain) works; gzip, deflate and br bodies are decoded. The event is ' +
        'broadcast to the subscribers of GET /events with `user_ip` added, and never stored. No authentication; ' +
        'CORS allows every origin.',
    }),
    ApiExtraModels(MonitoringEventDto),
    ApiConsumes('application/json', 'text/plain'),
    ApiBody({ schema: { $ref: getSchemaPath(MonitoringEventDto) }, examples: requestExamples }),
    ApiHeader({ name: 'Content-Encoding', required: false, enum: ['gzip', 'deflate', 'br'] }),
    ApiNoContentResponse({ description: 'Accepted and broadcast' }),
    ApiBadRequestResponse({
      description:
        'Empty body, invalid JSON, not an object, nested deeper than 64 levels, or (STRICT_SCHEMA) not an envelope',
      type: HttpErrorDto,
      examples: {
        invalidJson: {
          summary: 'Not JSON',
          value: { statusCode: 400, error: 'Bad Request', message: 'The request body is not valid JSON' },
        },
        strictSchema: {
          summary: 'STRICT_SCHEMA=true and the envelope is wrong',
          value: {
            statusCode: 400,
            error: 'Bad Request',
            message: [
              'event_name must be one of the following values: START, STOP, ERROR, HEARTBEAT',
              'timestamp must be an integer number',
            ],
            fields: ['event_name', 'timestamp'],
          },
        },
      },
    }),
    ApiPayloadTooLargeResponse(
      error('Larger than MAX_EVENT_BYTES, before or after decompression; the connection is closed', {
        statusCode: 413,
        error: 'Payload Too Large',
        message: 'The event is larger than 262144 bytes',
      }),
    ),
    ApiUnsupportedMediaTypeResponse(
      error('A Content-Encoding other than gzip, deflate, br', {
        statusCode: 415,
        error: 'Unsupported Media Type',
        message: 'Content-Encoding "zstd" is not supported: send one of gzip, deflate, br, or none',
      }),
    ),
    ApiTooManyRequestsResponse({
      ...error('RATE_LIMIT_PER_MINUTE is set and this client address sent more', {
        statusCode: 429,
        error: 'Too Many Requests',
        message: 'More than 600 events per minute from this address (RATE_LIMIT_PER_MINUTE)',
      }),
      headers: {
        'Retry-After': { description: 'Seconds until an event is accepted again', schema: { type: 'integer' } },
      },
    }),
  );

export const DocumentStream = () =>
  applyDecorators(
    ApiOperation({
      summary: 'The live stream of events (Server-Sent Events)',
      description:
        'Every event accepted from now on, as `data: <json>\\n\\n` frames (no `id:` or `event:` lines): the event ' +
        'as posted, with `user_ip`. Comment lines (`: keep-alive`) keep idle connections open. No history: a ' +
        'reconnecting client gets the events from its reconnection on. A reader that falls more than ' +
        'SSE_MAX_BUFFER_BYTES behind is disconnected. When SUBSCRIBER_TOKENS, JWT_SECRET or JWT_JWKS_URL is set a ' +
        'token is needed (a static token or a JWT), as a Bearer header or, for the browser EventSource that cannot ' +
        "set headers, as `?access_token=`. A JWT's `pillarbox_filter` claim narrows the stream, and the stream " +
        'ends when the JWT expires (a last `: the token expired` comment).',
    }),
    ApiExtraModels(BroadcastEventDto),
    ApiQuery({
      name: 'event_name',
      required: false,
      description: 'Only events whose `event_name` is one of these (comma-separated, exact match)',
      example: 'ERROR,START',
    }),
    ApiQuery({
      name: 'session_id',
      required: false,
      description:
        'Only events whose `session_id` is one of these (comma-separated); with `event_name`, both must match',
    }),
    ApiBadRequestResponse(
      error(
        'A filter parameter is empty, has an empty item, more than 64 values or a value over 128 characters, or is ' +
          'spelt otherwise (`?SESSION_ID=`, `?session_id[]=`)',
        {
          statusCode: 400,
          error: 'Bad Request',
          message: 'event_name must be a comma-separated list of non-empty values',
        },
      ),
    ),
    ApiForbiddenResponse(
      error("The query asks only for events the JWT's `pillarbox_filter` claim does not allow", {
        statusCode: 403,
        error: 'Forbidden',
        message: 'The token does not allow the event_name values the query asks for',
      }),
    ),
    ApiUriTooLongResponse(
      error('A query string longer than 4,096 characters', {
        statusCode: 414,
        error: 'URI Too Long',
        message: 'The query string of /events has 5000 characters: at most 4096',
      }),
    ),
    ApiTooManyRequestsResponse(
      error('MAX_SUBSCRIBERS_PER_ADDRESS streams of this address are open already', {
        statusCode: 429,
        error: 'Too Many Requests',
        message: 'Too many streams from this address (MAX_SUBSCRIBERS_PER_ADDRESS=256)',
      }),
    ),
    ApiOkResponse({
      description: `An endless text/event-stream; each \`data:\` line holds one event, schema ${getSchemaPath(BroadcastEventDto)}`,
      content: {
        'text/event-stream': {
          schema: { type: 'string', description: 'SSE frames, one `data:` line per event' },
          example: `: connected\n\n${streamExample}`,
        },
      },
    }),
    TokenSecurity(),
    ApiServiceUnavailableResponse(
      error('Shutting down, MAX_SUBSCRIBERS reached, or the keys that verify a JWT (JWT_JWKS_URL) cannot be had', {
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'Too many subscribers (MAX_SUBSCRIBERS=10000)',
      }),
    ),
  );

export const DocumentMetrics = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Prometheus metrics',
      description:
        'Text exposition format. Needs a subscriber token (static or JWT) when SUBSCRIBER_TOKENS, JWT_SECRET or ' +
        'JWT_JWKS_URL is set.',
    }),
    ApiOkResponse({
      description: 'Counters of this instance and the default Node.js process metrics',
      content: {
        'text/plain': {
          schema: { type: 'string' },
          example:
            '# HELP pillarbox_events_received_total Events accepted on POST /api/events and published to the stream\n' +
            '# TYPE pillarbox_events_received_total counter\npillarbox_events_received_total 42\n',
        },
      },
    }),
    TokenSecurity(),
  );

const healthBody = (status: 'ok' | 'error', state: 'up' | 'down') => ({
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'error', 'shutting_down'] },
    info: { type: 'object', additionalProperties: true, nullable: true },
    error: { type: 'object', additionalProperties: true, nullable: true },
    details: { type: 'object', additionalProperties: true },
  },
  example: {
    status,
    info: state === 'up' ? { lifecycle: { status: 'up', state: 'serving' } } : {},
    error: state === 'down' ? { lifecycle: { status: 'down', state: 'shutting down' } } : {},
    details: { lifecycle: { status: state, state: state === 'up' ? 'serving' : 'shutting down' } },
  },
});

/** Terminus's own response docs are turned off (@HealthCheck({ swaggerDocumentation: false })): these replace them. */
const HealthResponses = () =>
  applyDecorators(
    ApiOkResponse({ description: 'Every check is up', schema: healthBody('ok', 'up') }),
    ApiServiceUnavailableResponse({ description: 'A check is down', schema: healthBody('error', 'down') }),
  );

export const DocumentHealth = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Every check: heap use, resident memory against the container limit, subscribers, backplane',
    }),
    HealthResponses(),
  );
export const DocumentLiveness = () =>
  applyDecorators(ApiOperation({ summary: 'Liveness: the process answers' }), HealthResponses());
export const DocumentReadiness = () =>
  applyDecorators(ApiOperation({ summary: 'Readiness: down once the instance is shutting down' }), HealthResponses());
