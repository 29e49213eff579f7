import { BadRequestException, HttpException } from '@nestjs/common';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import {
  checkQueryLength,
  matchesFilter,
  MAX_FILTER_VALUES,
  MAX_QUERY_LENGTH,
  parseStreamFilter,
} from './stream-filter.js';

function event(eventName?: string, sessionId?: string): BroadcastEvent {
  return { frame: Buffer.from('data: {}\n\n'), eventName, sessionId };
}

describe('parseStreamFilter', () => {
  it('asks for no filter without filter parameters, whatever else the query holds', () => {
    expect(parseStreamFilter(undefined)).toBeUndefined();
    expect(parseStreamFilter({})).toBeUndefined();
    expect(parseStreamFilter({ access_token: 't', foo: 'bar' })).toBeUndefined();
  });

  it('reads comma-separated and repeated values, trimmed', () => {
    const filter = parseStreamFilter({ event_name: ['ERROR, START', 'STOP'], session_id: 's1' });
    expect([...(filter?.eventNames ?? [])]).toEqual(['ERROR', 'START', 'STOP']);
    expect([...(filter?.sessionIds ?? [])]).toEqual(['s1']);
  });

  it('gives equal filters the same key, whatever the order of values, and different ones different keys', () => {
    const a = parseStreamFilter({ event_name: 'ERROR,START' });
    const b = parseStreamFilter({ event_name: 'START,ERROR,START' });
    const c = parseStreamFilter({ session_id: 'ERROR,START' });
    const d = parseStreamFilter({ event_name: 'ERROR,START', session_id: 's' });
    expect(a?.key).toBe(b?.key);
    expect(new Set([a?.key, c?.key, d?.key]).size).toBe(3);
  });

  it.each([
    [{ event_name: '' }],
    [{ event_name: ',' }],
    [{ event_name: 'ERROR,' }],
    [{ event_name: ' ' }],
    [{ session_id: '' }],
    [{ event_name: 'ERROR', session_id: '' }],
    [{ event_name: ['ERROR', ''] }],
    [{ event_name: { nested: 'x' } }],
  ])('refuses an empty value: %j', (query) => {
    expect(() => parseStreamFilter(query)).toThrow(BadRequestException);
  });
});

describe('bounds and spellings of filters', () => {
  it.each(['session_id[]', 'SESSION_ID', 'Event_Name', 'event_name[0]', 'session-id', 'event_name[][]'])(
    'refuses %s with a 400 naming the parameter, rather than ignoring the filter',
    (name) => {
      expect(() => parseStreamFilter({ [name]: 'abc' })).toThrow(
        new BadRequestException(
          `Unknown query parameter ${JSON.stringify(name)}: the filter is spelt ${name.toLowerCase().startsWith('event') ? 'event_name' : 'session_id'}, as in ?${name.toLowerCase().startsWith('event') ? 'event_name' : 'session_id'}=a,b`,
        ),
      );
    },
  );

  it('still ignores parameters that are no filter', () => {
    expect(parseStreamFilter({ sessionid: 'x', session: 'y', event: 'z', access_token: 't' })).toBeUndefined();
  });

  it(`takes ${MAX_FILTER_VALUES} values per parameter, and refuses more, or values too long`, () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`).join(',');
    expect(parseStreamFilter({ session_id: values(MAX_FILTER_VALUES) })?.sessionIds?.size).toBe(MAX_FILTER_VALUES);
    expect(() => parseStreamFilter({ session_id: values(MAX_FILTER_VALUES + 1) })).toThrow(
      `session_id lists ${MAX_FILTER_VALUES + 1} values: at most ${MAX_FILTER_VALUES}`,
    );
    expect(() => parseStreamFilter({ event_name: 'x'.repeat(129) })).toThrow(/longer than 128 characters/);
  });

  it(`refuses a query string longer than ${MAX_QUERY_LENGTH} characters with a 414 naming the limit`, () => {
    expect(() => checkQueryLength(`/events?${'a'.repeat(MAX_QUERY_LENGTH)}`)).not.toThrow();
    expect(() => checkQueryLength('/events')).not.toThrow();
    let refusal: unknown;
    try {
      checkQueryLength(`/events?${'a'.repeat(MAX_QUERY_LENGTH + 1)}`);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(HttpException);
    expect((refusal as HttpException).getStatus()).toBe(414);
    expect((refusal as HttpException).message).toBe(
      `The query string of /events has ${MAX_QUERY_LENGTH + 1} characters: at most ${MAX_QUERY_LENGTH}`,
    );
  });
});

describe('matchesFilter', () => {
  const byName = parseStreamFilter({ event_name: 'ERROR,START' })!;
  const bySession = parseStreamFilter({ session_id: 's1' })!;
  const both = parseStreamFilter({ event_name: 'ERROR', session_id: 's1' })!;

  it('keeps events whose name is listed', () => {
    expect(matchesFilter(byName, event('ERROR', 'x'))).toBe(true);
    expect(matchesFilter(byName, event('START'))).toBe(true);
    expect(matchesFilter(byName, event('HEARTBEAT', 'x'))).toBe(false);
    expect(matchesFilter(byName, event('error'))).toBe(false);
    expect(matchesFilter(byName, event(undefined, 'x'))).toBe(false);
  });

  it('keeps events of the session', () => {
    expect(matchesFilter(bySession, event('HEARTBEAT', 's1'))).toBe(true);
    expect(matchesFilter(bySession, event('HEARTBEAT', 's2'))).toBe(false);
    expect(matchesFilter(bySession, event('HEARTBEAT'))).toBe(false);
  });

  it('needs both when both are given', () => {
    expect(matchesFilter(both, event('ERROR', 's1'))).toBe(true);
    expect(matchesFilter(both, event('ERROR', 's2'))).toBe(false);
    expect(matchesFilter(both, event('START', 's1'))).toBe(false);
  });
});
