import { BadRequestException } from '@nestjs/common';
import { exceedsDepth, MAX_JSON_DEPTH } from '../common/event-json.js';
import { buildFrame } from './ingest.js';

const frameText = (body: string, ip = '1.2.3.4') => buildFrame(Buffer.from(body), ip).frame.toString('utf8');

describe('exceedsDepth', () => {
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
  it('allows exactly the bound and refuses one level more', () => {
    expect(exceedsDepth(nest(MAX_JSON_DEPTH))).toBe(false);
    expect(exceedsDepth(nest(MAX_JSON_DEPTH + 1))).toBe(true);
  });
  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(exceedsDepth(`{"a":"${'['.repeat(500)}\\"${'{'.repeat(500)}"}`)).toBe(false);
  });
});

describe('buildFrame', () => {
  it('appends user_ip to the text as sent and frames it', () => {
    expect(frameText('{"event_name":"START","n":1.50}')).toBe(
      'data: {"event_name":"START","n":1.50,"user_ip":"1.2.3.4"}\n\n',
    );
  });

  it('returns the event name and session id for filters', () => {
    const event = buildFrame(Buffer.from('{"event_name":"ERROR","session_id":"s1"}'), '::1');
    expect(event).toMatchObject({ eventName: 'ERROR', sessionId: 's1' });
    const other = buildFrame(Buffer.from('{"event_name":5}'), '::1');
    expect(other.eventName).toBeUndefined();
    expect(other.sessionId).toBeUndefined();
  });

  it("writes its user_ip in place of the body's own, and line breaks as spaces, never re-serializing", () => {
    expect(frameText('{"user_ip":"6.6.6.6","a":1.50}')).toBe('data: {"user_ip":"1.2.3.4","a":1.50}\n\n');
    expect(frameText('{\r\n"a": 1.50\n}\n')).toBe('data: {  "a": 1.50 ,"user_ip":"1.2.3.4"}\n\n');
    expect(frameText('{"a":[1,{"user_ip":0}],\n "user_ip" : {"x":"}"} ,"user\\u005fip":1,"b":1e2}')).toBe(
      'data: {"a":[1,{"user_ip":0}],  "user_ip" :"1.2.3.4","user\\u005fip":"1.2.3.4","b":1e2}\n\n',
    );
    expect(frameText('{"s":"\\"user_ip\\":1","user_ip":null}')).toBe(
      'data: {"s":"\\"user_ip\\":1","user_ip":"1.2.3.4"}\n\n',
    );
    expect(frameText('{"a":1,"user_ip":2}')).toBe('data: {"a":1,"user_ip":"1.2.3.4"}\n\n');
  });

  it('replaces invalid UTF-8 rather than passing it on', () => {
    const body = Buffer.concat([Buffer.from('{"bad":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const frame = buildFrame(body, '1.2.3.4').frame.toString('utf8');
    expect(JSON.parse(frame.slice(6))).toEqual({ bad: '\ufffd\ufffd', user_ip: '1.2.3.4' });
  });

  it.each([
    '',
    '   ',
    'nope',
    '[]',
    '"s"',
    '1',
    'null',
    'true',
    '{"a":1}x',
    '{"a":' + '['.repeat(100) + ']'.repeat(100) + '}',
  ])('refuses %j with a BadRequestException', (body) => {
    expect(() => buildFrame(Buffer.from(body), '1.2.3.4')).toThrow(BadRequestException);
  });

  it('does not quote the payload in its error message', () => {
    let refusal: unknown;
    try {
      buildFrame(Buffer.from('{"secret_session":'), '1.2.3.4');
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(BadRequestException);
    expect((refusal as Error).message).toBe('The request body is not valid JSON');
    expect((refusal as Error).message).not.toContain('secret_session');
  });
});
