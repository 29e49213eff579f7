import { BadRequestException } from '@nestjs/common';
import type { BroadcastEvent } from '../common/broadcast-event.js';

/**
 * What one subscriber of `GET /events` wants: events whose `event_name` is one of `eventNames` and whose
 * `session_id` is one of `sessionIds`; an absent set does not restrict. Built once per connection.
 */
export interface StreamFilter {
  readonly eventNames?: ReadonlySet<string>;
  readonly sessionIds?: ReadonlySet<string>;
  /** The same for equal filters, whatever the order of values: the hub builds one chunk per distinct key. */
  readonly key: string;
}

/** Query parameters of `GET /events` that filter the stream, and the filter field each fills. */
const PARAMETERS = { event_name: 'eventNames', session_id: 'sessionIds' } as const;

/** Values of one parameter: comma-separated, and the parameter may be repeated. */
function parseValues(name: string, raw: unknown): Set<string> {
  const items = (Array.isArray(raw) ? raw : [raw]).flatMap((value) =>
    typeof value === 'string' ? value.split(',') : [''],
  );
  const values = new Set<string>();
  for (const item of items) {
    const value = item.trim();
    if (value === '') {
      throw new BadRequestException(`${name} must be a comma-separated list of non-empty values`);
    }
    values.add(value);
  }
  return values;
}

/**
 * The filter asked for by a query string (`?event_name=ERROR,START&session_id=abc`), or undefined when it asks
 * for none. Other parameters are ignored.
 * @throws BadRequestException when a filter parameter is empty or has an empty item (`?event_name=`, `?event_name=a,`).
 */
export function parseStreamFilter(query: Record<string, unknown> | undefined): StreamFilter | undefined {
  if (!query) return undefined;
  const filter: { eventNames?: Set<string>; sessionIds?: Set<string>; key: string } = { key: '' };
  const keys: string[] = [];
  for (const [name, field] of Object.entries(PARAMETERS)) {
    if (!Object.hasOwn(query, name)) continue;
    const values = parseValues(name, query[name]);
    filter[field] = values;
    keys.push(`${name}=${JSON.stringify([...values].sort())}`);
  }
  if (!keys.length) return undefined;
  filter.key = keys.join('&');
  return filter;
}

/** Whether `event` passes `filter`. On the hub's write path: two set look-ups at most. */
export function matchesFilter(filter: StreamFilter, event: BroadcastEvent): boolean {
  const { eventNames, sessionIds } = filter;
  if (eventNames && (event.eventName === undefined || !eventNames.has(event.eventName))) return false;
  if (sessionIds && (event.sessionId === undefined || !sessionIds.has(event.sessionId))) return false;
  return true;
}
