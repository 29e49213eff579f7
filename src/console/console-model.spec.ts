// The console's model is plain browser JavaScript (src/console/public); it has no DOM, so it runs here as is.
import { ConsoleModel, DEFAULT_HEARTBEAT_MS, NONE, OTHER, Ring, UNKNOWN } from './public/console-model.js';

const T0 = 1_700_000_000_000;

function ev(event_name: string, session_id: string, data: object = {}): string {
  return JSON.stringify({ event_name, session_id, timestamp: 1, version: 1, data, user_ip: '10.0.0.1' });
}

function start(session: string, platform = 'Web', media = 'urn:m:1'): string {
  return ev('START', session, { player: { platform, version: '1.2.3' }, media: { id: media } });
}

describe('ConsoleModel', () => {
  it('counts events by name and by platform, taking the platform of later events from their START', () => {
    const model = new ConsoleModel();
    model.add(start('a', 'Web'), T0);
    model.add(start('b', 'Apple'), T0);
    model.add(ev('HEARTBEAT', 'a'), T0 + 10);
    model.add(ev('HEARTBEAT', 'zz'), T0 + 10); // its START was not seen
    const error = model.add(ev('ERROR', 'b', { message: 'boom', name: 'E1' }), T0 + 20);
    expect(model.byName()).toEqual([
      ['HEARTBEAT', 2],
      ['START', 2],
      ['ERROR', 1],
    ]);
    expect(model.byPlatform()).toEqual([
      ['Apple', 2],
      ['Web', 2],
      [UNKNOWN, 1],
    ]);
    expect(error).toMatchObject({
      platform: 'Apple',
      version: '1.2.3',
      media: 'urn:m:1',
      message: 'boom',
      errorName: 'E1',
    });
    expect([...model.errors.newest()].map((e) => e.session)).toEqual(['b']);
  });

  it('counts malformed or non-object data apart, without failing', () => {
    const model = new ConsoleModel();
    expect(model.add('{not json', T0)).toBeUndefined();
    expect(model.add('[1,2]', T0)).toBeUndefined();
    expect(model.add('null', T0)).toBeUndefined();
    expect(model.malformed).toBe(3);
    expect(model.total).toBe(0);
  });

  it('keeps a bounded number of distinct names, counting the rest as other', () => {
    const model = new ConsoleModel({ maxNames: 3 });
    for (let i = 0; i < 10; i++) model.add(ev(`N${i}`, 's'), T0);
    expect(model.byName()).toHaveLength(4);
    expect(new Map(model.byName()).get(OTHER)).toBe(7);
  });

  it('tells which name each event is counted under, and the bound on those names', () => {
    const model = new ConsoleModel({ maxNames: 3 });
    expect(model.maxGroups).toBe(4);
    const groups = ['A', '', 'B', 'C', 'D', 'A'].map((name) => model.add(ev(name, 's'), T0)?.group);
    expect(groups).toEqual(['A', NONE, 'B', OTHER, OTHER, 'A']);
    expect(model.count('A')).toBe(2);
    expect(model.count(OTHER)).toBe(2);
    expect(model.count('C')).toBe(0);
  });

  // Fields are untrusted: a value that is an object must not go through String(), which calls its own toString,
  // and names such as `__proto__` must be keys like any other.
  it('shows and counts events whose fields are objects with toString, or whose names are Object members', () => {
    const model = new ConsoleModel();
    const hostile = { toString: null };
    const raws = [
      JSON.stringify({
        event_name: 'START',
        session_id: 'h1',
        data: { player: { platform: hostile }, media: { id: hostile } },
      }),
      JSON.stringify({ event_name: 'HEARTBEAT', session_id: hostile, data: hostile }),
      JSON.stringify({
        event_name: 'ERROR',
        session_id: 'h2',
        data: { message: hostile, name: { valueOf: null, toString: 1 } },
      }),
      JSON.stringify({ event_name: hostile, session_id: 'h3', data: { toString: null } }),
      '{"event_name":"__proto__","session_id":"h4","__proto__":{"x":1},"data":{"__proto__":null,"constructor":null}}',
      ...['toString', 'constructor', 'hasOwnProperty', 'valueOf'].map((name) =>
        JSON.stringify({ event_name: name, session_id: 'h5', data: { hasOwnProperty: null } }),
      ),
    ];
    const entries = raws.map((raw) => model.add(raw, T0));
    expect(entries.every((entry) => entry !== undefined)).toBe(true);
    expect(model.total).toBe(raws.length);
    expect(model.malformed).toBe(0);
    expect(model.find({}).map((e) => e.session)).toEqual([
      'h5',
      'h5',
      'h5',
      'h5',
      'h4',
      'h3',
      'h2',
      '{"toString":null}',
      'h1',
    ]);
    expect(entries[0]).toMatchObject({ platform: '{"toString":null}', media: '{"toString":null}' });
    expect(entries[2]).toMatchObject({ message: '{"toString":null}', errorName: '{"valueOf":null,"toString":1}' });
    expect(new Map(model.byName())).toEqual(
      new Map([
        ['START', 1],
        ['HEARTBEAT', 1],
        ['ERROR', 1],
        ['{"toString":null}', 1],
        ['__proto__', 1],
        ['toString', 1],
        ['constructor', 1],
        ['hasOwnProperty', 1],
        ['valueOf', 1],
      ]),
    );
    expect(model.count('__proto__')).toBe(1);
    expect(model.count('toString')).toBe(1);
    expect(model.find({ name: '__proto__' }).map((e) => e.session)).toEqual(['h4']);
    expect(new Map(model.byPlatform()).get('{"toString":null}')).toBe(1);
    expect(model.series(T0 + 1000, 1).series.get('__proto__')).toEqual([1]);
  });

  it('counts a session as active from its START until STOP, ERROR or two heartbeat periods of silence', () => {
    const model = new ConsoleModel();
    model.add(start('a'), T0);
    model.add(start('b'), T0);
    model.add(start('c'), T0);
    model.add(ev('HEARTBEAT', 'x'), T0); // never started: not counted
    expect(model.activeSessions(T0 + 1).total).toBe(3);
    model.add(ev('STOP', 'a'), T0 + 100);
    model.add(ev('ERROR', 'b'), T0 + 100);
    expect(model.activeSessions(T0 + 200)).toEqual({ total: 1, byPlatform: [['Web', 1]] });
    expect(model.activeSessions(T0 + 2 * DEFAULT_HEARTBEAT_MS - 1).total).toBe(1);
    expect(model.activeSessions(T0 + 2 * DEFAULT_HEARTBEAT_MS + 1).total).toBe(0);
    // Heard from again after the silence: active again, and still shown with its START's player and media.
    const late = model.add(ev('HEARTBEAT', 'c'), T0 + 5 * DEFAULT_HEARTBEAT_MS);
    expect(late).toMatchObject({ platform: 'Web', media: 'urn:m:1' });
    expect(model.activeSessions(T0 + 5 * DEFAULT_HEARTBEAT_MS + 1).total).toBe(1);
    // Silent for very long: forgotten.
    model.activeSessions(T0 + 1_000 * DEFAULT_HEARTBEAT_MS);
    expect(model.add(ev('HEARTBEAT', 'c'), T0 + 1_000 * DEFAULT_HEARTBEAT_MS)?.platform).toBe('');
  });

  it('measures the heartbeat period from the gaps between heartbeats', () => {
    const model = new ConsoleModel();
    model.add(start('a'), T0);
    for (let i = 0; i <= 5; i++) model.add(ev('HEARTBEAT', 'a'), T0 + i * 5000);
    expect(model.activeWindowMs).toBe(10_000);
    expect(model.activeSessions(T0 + 25_000 + 9_000).total).toBe(1);
    expect(model.activeSessions(T0 + 25_000 + 11_000).total).toBe(0);
  });

  it('gives per-second counts by name for the whole seconds before now, and the recent rate', () => {
    const model = new ConsoleModel({ seconds: 10 });
    for (let i = 0; i < 4; i++) model.add(ev('HEARTBEAT', 's'), T0 + 1000 + i);
    model.add(ev('START', 's'), T0 + 3000);
    model.add(ev('START', 's'), T0 + 5000); // the current second: not shown yet
    const { seconds, series } = model.series(T0 + 5500, 5);
    expect(seconds).toEqual([0, 1, 2, 3, 4].map((k) => Math.floor(T0 / 1000) + k));
    expect(series.get('HEARTBEAT')).toEqual([0, 4, 0, 0, 0]);
    expect(series.get('START')).toEqual([0, 0, 0, 1, 0]);
    expect(model.rate(T0 + 5500, 5)).toBe(1);
    // Ten seconds later, those buckets are reused: old counts are gone.
    model.add(ev('STOP', 's'), T0 + 15_000);
    expect(model.series(T0 + 16_000, 9).series.get('HEARTBEAT')).toBeUndefined();
  });

  it('finds the latest events by name and by session or media text, newest first, within a bounded buffer', () => {
    const model = new ConsoleModel({ maxEvents: 5 });
    model.add(start('old', 'Web', 'urn:first'), T0);
    for (let i = 0; i < 6; i++) model.add(start(`s${i}`, 'Web', `urn:media:${i % 2}`), T0 + i);
    expect(model.latest.length).toBe(5);
    expect(model.find({}).map((e) => e.session)).toEqual(['s5', 's4', 's3', 's2', 's1']);
    expect(model.find({ text: 'URN:MEDIA:1' }).map((e) => e.session)).toEqual(['s5', 's3', 's1']);
    expect(model.find({ text: 's2' }).map((e) => e.session)).toEqual(['s2']);
    expect(model.find({ name: 'STOP' })).toEqual([]);
    expect(model.find({ text: 'urn:first' })).toEqual([]); // pushed out of the buffer
    expect(model.find({}, 2)).toHaveLength(2);
  });
});

describe('Ring', () => {
  it('keeps the latest items, newest first', () => {
    const ring = new Ring(3);
    for (let i = 1; i <= 5; i++) ring.push(i);
    expect([...ring.newest()]).toEqual([5, 4, 3]);
  });
});
