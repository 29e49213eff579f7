import { BadRequestException, ForbiddenException, HttpException, HttpStatus } from '@nestjs/common';
import type { BroadcastEvent } from '../common/broadcast-event.js';

/**
 * What one subscriber of `GET /events` wants: events whose `event_name` is one of `eventNames` and whose
 * `session_id` is one of `sessionIds`; an absent set does not restrict. Built once per connection.
 */
export interface StreamFilter {
  readonly eventNames?: ReadonlySet<string>;
  readonly sessionIds?: ReadonlySet<string>;
  /** The same for equal filters, whatever the order of values: the hub groups subscribers by it. */
  readonly key: string;
}

/**
 * Bounds of a filter, so that a stream's filter costs a few kB at most (counted in the memory budget of a
 * subscriber, see app-config.ts): the query string of `GET /events`, the values of one parameter, one value.
 */
export const MAX_QUERY_LENGTH = 4096;
export const MAX_FILTER_VALUES = 64;
export const MAX_FILTER_VALUE_LENGTH = 128;

/** Query parameters of `GET /events` that filter the stream. */
const PARAMETERS = ['event_name', 'session_id'] as const;
type Parameter = (typeof PARAMETERS)[number];

/** A spelling of a filter parameter's name that is not the name itself: `SESSION_ID`, `session_id[]`, `session-id`. */
function misspelt(name: string): Parameter | undefined {
  const normalized = name
    .toLowerCase()
    .replace(/(\[[^\]]*\])+$/, '')
    .replace(/-/g, '_')
    .trim();
  return normalized !== name && (PARAMETERS as readonly string[]).includes(normalized)
    ? (normalized as Parameter)
    : undefined;
}

/** Values of one parameter: comma-separated, and the parameter may be repeated. */
function parseValues(name: Parameter, raw: unknown): Set<string> {
  const items = (Array.isArray(raw) ? raw : [raw]).flatMap((value) =>
    typeof value === 'string' ? value.split(',') : [''],
  );
  const values = new Set<string>();
  for (const item of items) {
    const value = item.trim();
    if (value === '') {
      throw new BadRequestException(`${name} must be a comma-separated list of non-empty values`);
    }
    if (value.length > MAX_FILTER_VALUE_LENGTH) {
      throw new BadRequestException(`A value of ${name} is longer than ${MAX_FILTER_VALUE_LENGTH} characters`);
    }
    values.add(value);
  }
  if (values.size > MAX_FILTER_VALUES) {
    throw new BadRequestException(`${name} lists ${values.size} values: at most ${MAX_FILTER_VALUES}`);
  }
  return values;
}

/**
 * Refuses a query string of `GET /events` longer than MAX_QUERY_LENGTH (414), before any of it is parsed into a
 * filter. `url` is the request's URL.
 */
export function checkQueryLength(url: string | undefined): void {
  const query = url?.indexOf('?') ?? -1;
  const length = query < 0 ? 0 : url!.length - query - 1;
  if (length > MAX_QUERY_LENGTH) {
    throw new HttpException(
      {
        statusCode: HttpStatus.URI_TOO_LONG,
        error: 'URI Too Long',
        message: `The query string of /events has ${length} characters: at most ${MAX_QUERY_LENGTH}`,
      },
      HttpStatus.URI_TOO_LONG,
    );
  }
}

/**
 * The filter asked for by a parsed query string (`?event_name=ERROR,START&session_id=abc`), or undefined when it
 * asks for none. Other parameters are ignored, as the Go service does.
 * @throws BadRequestException when a filter parameter is empty, has an empty item, too many or too long values, or
 *   is spelt otherwise (`SESSION_ID`, `session_id[]`): a filter is never silently ignored.
 */
export function parseStreamFilter(query: Record<string, unknown> | undefined): StreamFilter | undefined {
  if (!query) return undefined;
  for (const name of Object.keys(query)) {
    const meant = misspelt(name);
    if (meant) {
      throw new BadRequestException(
        `Unknown query parameter ${JSON.stringify(name)}: the filter is spelt ${meant}, as in ?${meant}=a,b`,
      );
    }
  }
  const values = (name: Parameter) => (Object.hasOwn(query, name) ? parseValues(name, query[name]) : undefined);
  return filterOf(values('event_name'), values('session_id'));
}

/** The filter of these values (absent: no restriction), with its key; undefined when it restricts nothing. */
function filterOf(eventNames?: ReadonlySet<string>, sessionIds?: ReadonlySet<string>): StreamFilter | undefined {
  const keys: string[] = [];
  if (eventNames) keys.push(`event_name=${JSON.stringify([...eventNames].sort())}`);
  if (sessionIds) keys.push(`session_id=${JSON.stringify([...sessionIds].sort())}`);
  if (!keys.length) return undefined;
  return { ...(eventNames && { eventNames }), ...(sessionIds && { sessionIds }), key: keys.join('&') };
}

/** The values `asked` keeps of `allowed` (absent: no restriction); an empty set when they have none in common. */
function narrowed(allowed: readonly string[] | undefined, asked: ReadonlySet<string> | undefined) {
  if (!allowed) return asked;
  return asked ? new Set(allowed.filter((value) => asked.has(value))) : new Set(allowed);
}

/**
 * A stream's filter once its token's claims restrict it (`allowed`, see auth/grant.ts): the query may narrow what
 * the token allows, never widen it.
 * @throws ForbiddenException when the query asks only for what the token does not allow.
 */
export function restrictFilter(
  filter: StreamFilter | undefined,
  allowed: { eventNames?: readonly string[]; sessionIds?: readonly string[] } | undefined,
): StreamFilter | undefined {
  if (!allowed || (!allowed.eventNames && !allowed.sessionIds)) return filter;
  const eventNames = narrowed(allowed.eventNames, filter?.eventNames);
  const sessionIds = narrowed(allowed.sessionIds, filter?.sessionIds);
  for (const [name, values] of [
    ['event_name', eventNames],
    ['session_id', sessionIds],
  ] as const) {
    if (values?.size === 0)
      throw new ForbiddenException(`The token does not allow the ${name} values the query asks for`);
  }
  return filterOf(eventNames, sessionIds);
}

/** Whether `event` passes `filter`. On the hub's write path: two set look-ups at most. */
export function matchesFilter(filter: StreamFilter, event: BroadcastEvent): boolean {
  const { eventNames, sessionIds } = filter;
  if (eventNames && (event.eventName === undefined || !eventNames.has(event.eventName))) return false;
  if (sessionIds && (event.sessionId === undefined || !sessionIds.has(event.sessionId))) return false;
  return true;
}
