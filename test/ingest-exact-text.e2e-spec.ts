import { postEvent } from './support/http.js';
import { appWithReader } from './support/app.js';

/** The event's text without whitespace outside strings (none of these bodies has whitespace inside a string). */
const compact = (text: string) => text.replace(/\s+/g, '');

/**
 * The event reaches subscribers as its sender wrote it: numbers as spelled (`1.50`, integers past 2^53), keys in
 * their order, escapes kept. Only whitespace may change: raw CR and LF, which in valid JSON can only be whitespace
 * between tokens, would split the SSE frame. A `user_ip` of the body's own is replaced where it stands.
 */
describe('ingest keeps the event text exactly', () => {
  const context = appWithReader();

  async function roundTrip(body: string): Promise<string> {
    const before = context.reader.events.length;
    expect((await postEvent(context.running.url, body)).status).toBe(204);
    await context.reader.waitForEvents(before + 1);
    const data = context.reader.events[before];
    // One `data:` line per event: the SSE client joins several with LF.
    expect(data).not.toMatch(/[\r\n]/);
    return data;
  }

  it('a pretty-printed body (CRLF, LF, CR) keeps its numbers and key order', async () => {
    const body =
      '{\r\n  "event_name": "START",\r\n  "n": 1.50,\n  "big": 12345678901234567890,\r  "z": {\n    "b": -0.0,\n' +
      '    "a": [1.0, 2E3, "x\\ny"]\n  }\n}\n';
    expect(compact(await roundTrip(body))).toBe(
      '{"event_name":"START","n":1.50,"big":12345678901234567890,"z":{"b":-0.0,"a":[1.0,2E3,"x\\ny"]},' +
        '"user_ip":"127.0.0.1"}',
    );
  });

  it('a body with its own user_ip gets ours in the same place, the rest as sent', async () => {
    expect(await roundTrip('{"user_ip":"9.9.9.9","n":1.50,"big":12345678901234567890}')).toBe(
      '{"user_ip":"127.0.0.1","n":1.50,"big":12345678901234567890}',
    );
  });

  it('a pretty-printed body with a user_ip holding an object', async () => {
    const body = '{\n  "a": 1.50,\n  "user_ip" : { "nested": [1, "}", {"user_ip": 2}] } ,\n  "b": 1e2\n}';
    expect(compact(await roundTrip(body))).toBe('{"a":1.50,"user_ip":"127.0.0.1","b":1e2}');
  });

  it('a user_ip key written with an escape, or twice: every one replaced', async () => {
    const escaped = await roundTrip('{"user\\u005fip":"6.6.6.6","n":1.50}');
    expect(escaped).toContain('"n":1.50');
    expect(escaped).not.toContain('6.6.6.6');
    expect(JSON.parse(escaped)).toEqual({ user_ip: '127.0.0.1', n: 1.5 });

    const twice = await roundTrip('{"user_ip":"6.6.6.6","n":1.50,\n"user_ip":"7.7.7.7"}');
    expect(compact(twice)).toBe('{"user_ip":"127.0.0.1","n":1.50,"user_ip":"127.0.0.1"}');
  });

  it('a user_ip deeper down or inside a string is the sender’s own and stays', async () => {
    const body = '{"data":{"user_ip":"10.1.1.1"},"note":"\\"user_ip\\":\\"x\\"","n":1.50}';
    expect(await roundTrip(body)).toBe(`${body.slice(0, -1)},"user_ip":"127.0.0.1"}`);
    const withOwn = '{"note":"a \\"user_ip\\": here","user_ip":null,"k":[{"user_ip":1}]}';
    expect(await roundTrip(withOwn)).toBe('{"note":"a \\"user_ip\\": here","user_ip":"127.0.0.1","k":[{"user_ip":1}]}');
  });
});
