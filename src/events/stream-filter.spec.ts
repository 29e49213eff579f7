import { BadRequestException } from '@nestjs/common';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import { matchesFilter, parseStreamFilter } from './stream-filter.js';

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
