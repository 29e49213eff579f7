import { BadRequestException } from '@nestjs/common';
import { rejectReason } from '../common/rejection.js';
import { EVENT_EXAMPLES } from './event-examples.js';
import { checkMonitoringEvent } from './strict-schema.js';

const valid = { event_name: 'START', session_id: 's', timestamp: 0, version: 1, data: {} };

function fault(event: Record<string, unknown>): { fields: string[]; message: string[] } {
  try {
    checkMonitoringEvent(event);
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestException);
    expect(rejectReason(err)).toBe('schema');
    return (err as BadRequestException).getResponse() as { fields: string[]; message: string[] };
  }
  throw new Error('the event was accepted');
}

describe('checkMonitoringEvent', () => {
  it.each(Object.keys(EVENT_EXAMPLES))('accepts the %s example', (name) => {
    expect(() => checkMonitoringEvent(EVENT_EXAMPLES[name as keyof typeof EVENT_EXAMPLES])).not.toThrow();
  });

  it('accepts extra keys and leaves the event as it was', () => {
    const event = { ...valid, user_ip: 'x', extra: [1], data: { anything: { goes: null } } };
    const copy = structuredClone(event);
    checkMonitoringEvent(event);
    expect(event).toEqual(copy);
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
  });

  it.each<[string, unknown, boolean]>([
    ['event_name', 'HEARTBEAT', true],
    ['event_name', 'heartbeat', false],
    ['event_name', undefined, false],
    ['session_id', 'x', true],
    ['session_id', '', false],
    ['session_id', 1, false],
    ['timestamp', 1750000000000, true],
    ['timestamp', -1, true],
    ['timestamp', 1.5, false],
    ['timestamp', '1', false],
    ['version', 1.5, true],
    ['version', Number.NaN, false],
    ['version', '1', false],
    ['data', {}, true],
    ['data', [], false],
    ['data', null, false],
  ])('%s = %p: valid %s', (field, value, ok) => {
    const event = { ...valid, [field]: value };
    if (ok) expect(() => checkMonitoringEvent(event)).not.toThrow();
    else expect(fault(event).fields).toEqual([field]);
  });

  it('lists every field at fault with a message for each', () => {
    const { fields, message } = fault({ data: 3 });
    expect(fields).toEqual(['event_name', 'session_id', 'timestamp', 'version', 'data']);
    expect(message).toContain('event_name must be one of the following values: START, STOP, ERROR, HEARTBEAT');
    expect(message).toContain('timestamp must be an integer number');
    expect(message).toContain('data must be an object');
  });
});
