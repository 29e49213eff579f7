import { FORMAT_VERSION, RedisMessageCodec, decodeMessage, newInstanceId } from './redis-message.js';

const frameOf = (json: string) => Buffer.from(`data: ${json}\n\n`);

describe('Redis message codec', () => {
  const codec = new RedisMessageCodec('AAAAAAAAAAAAAAAA');
  const other = new RedisMessageCodec('BBBBBBBBBBBBBBBB');

  it('carries the frame byte for byte, with event name and session id, to another instance', () => {
    const event = {
      frame: frameOf('{"event_name":"START","session_id":"s-é\\u2028","n":1,"user_ip":"10.0.0.1"}'),
      eventName: 'START',
      sessionId: 's-é\u2028',
    };
    const message = codec.encode([event]);
    expect(message.toString()).toBe(`2:AAAAAAAAAAAAAAAA\n["START","s-é\u2028"]\n${event.frame.toString()}`);
    expect(other.isOwn(message)).toBe(false);
    const decoded = decodeMessage(message);
    expect(decoded).toEqual([{ frame: event.frame, eventName: 'START', sessionId: 's-é\u2028' }]);
    expect(decoded?.[0].frame.buffer).toBe(message.buffer); // a view, not a copy
  });

  it("carries a turn's events in one message, in their order", () => {
    const events = Array.from({ length: 50 }, (_, i) => ({
      frame: frameOf(`{"n":${i},"text":"a\\nb"}`),
      eventName: i % 2 ? 'POS' : undefined,
      sessionId: `s${i % 3}`,
    }));
    const decoded = decodeMessage(codec.encode(events));
    expect(decoded?.map((e) => e.frame.toString())).toEqual(events.map((e) => e.frame.toString()));
    expect(decoded?.map((e) => [e.eventName, e.sessionId])).toEqual(events.map((e) => [e.eventName, e.sessionId]));
  });

  it('encodes no event as a probe, which decodes to no event', () => {
    const probe = codec.encode([]);
    expect(probe.toString()).toBe('2:AAAAAAAAAAAAAAAA\n');
    expect(codec.isOwn(probe)).toBe(true);
    expect(decodeMessage(probe)).toEqual([]);
  });

  it('keeps absent fields absent', () => {
    const decoded = decodeMessage(codec.encode([{ frame: frameOf('{"a":1}') }]));
    expect(decoded).toEqual([{ frame: frameOf('{"a":1}'), eventName: undefined, sessionId: undefined }]);
  });

  it("recognizes the instance's own messages only", () => {
    const message = codec.encode([{ frame: frameOf('{}') }]);
    expect(codec.isOwn(message)).toBe(true);
    expect(other.isOwn(message)).toBe(false);
    expect(codec.isOwn(Buffer.from('2:AAAA'))).toBe(false);
  });

  it('reads version 1, one event per message (the previous build during a rolling upgrade)', () => {
    const frame = frameOf('{"event_name":"START"}');
    const v1 = Buffer.concat([Buffer.from('1:BBBBBBBBBBBBBBBB\n["START","s1"]\n'), frame]);
    expect(decodeMessage(v1)).toEqual([{ frame, eventName: 'START', sessionId: 's1' }]);
    const twoInOne = Buffer.concat([v1, Buffer.from('["START","s1"]\n'), frame]);
    expect(decodeMessage(twoInOne)).toBeUndefined();
    expect(decodeMessage(Buffer.from('1:BBBBBBBBBBBBBBBB\n'))).toBeUndefined();
  });

  it.each([
    ['an empty message', ''],
    ['plain text', 'hello'],
    ['a version two ahead', `${FORMAT_VERSION + 2}:AAAAAAAAAAAAAAAA\n[null,null]\ndata: {}\n\n`],
    ['version 0', '0:AAAAAAAAAAAAAAAA\n[null,null]\ndata: {}\n\n'],
    ['a two-digit version', '10AAAAAAAAAAAAAAAA\n[null,null]\ndata: {}\n\n'],
    ['a header of one element', '2:AAAAAAAAAAAAAAAA\n["A"]\ndata: {}\n\n'],
    ['a short origin', '2:AAAA\n[null,null]\ndata: {}\n\n'],
    ['no header end', '2:AAAAAAAAAAAAAAAA\n[null,null]'],
    ['a header that is not JSON', '2:AAAAAAAAAAAAAAAA\n[nul\ndata: {}\n\n'],
    ['a header of the wrong shape', '2:AAAAAAAAAAAAAAAA\n{"e":1}\ndata: {}\n\n'],
    ['a header with a number', '2:AAAAAAAAAAAAAAAA\n[1,null]\ndata: {}\n\n'],
    ['a frame that is not a data line', '2:AAAAAAAAAAAAAAAA\n[null,null]\nevent: x\n\n'],
    ['a frame without its blank line', '2:AAAAAAAAAAAAAAAA\n[null,null]\ndata: {}\n'],
    ['a frame with a second field', '2:AAAAAAAAAAAAAAAA\n[null,null]\ndata: {}\nid: 7\n\n'],
    ['a frame with a carriage return', '2:AAAAAAAAAAAAAAAA\n[null,null]\ndata: {}\rid: 7\n\n'],
    ['an empty data line', '2:AAAAAAAAAAAAAAAA\n[null,null]\ndata: \n\n'],
    ['a good entry, then a bad one', '2:AAAAAAAAAAAAAAAA\n[null,null]\ndata: {}\n\n[null,null]\nevent: x\n\n'],
    ['a good entry, then a frame without header', '2:AAAAAAAAAAAAAAAA\n[null,null]\ndata: {}\n\ndata: {}\n\n'],
  ])('ignores %s, whole', (_what, text) => {
    expect(decodeMessage(Buffer.from(text))).toBeUndefined();
  });

  it('reads the messages of the next version (a newer build during a rolling upgrade), ignoring what it added', () => {
    const frame = frameOf('{"event_name":"START","user_ip":"10.0.0.1"}');
    const next = Buffer.concat([
      Buffer.from(`${FORMAT_VERSION + 1}:BBBBBBBBBBBBBBBB\n["START","s1",{"added":"later"},3]\n`),
      frame,
      Buffer.from('[null,"s2",4]\n'),
      frame,
    ]);
    expect(codec.isOwn(next)).toBe(false);
    expect(decodeMessage(next)).toEqual([
      { frame, eventName: 'START', sessionId: 's1' },
      { frame, eventName: undefined, sessionId: 's2' },
    ]);
  });

  it('makes distinct 16-character ids and refuses malformed ones', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newInstanceId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(() => new RedisMessageCodec('short')).toThrow();
    expect(() => new RedisMessageCodec('AAAAAAAAAAAAAAA\n')).toThrow();
  });
});
