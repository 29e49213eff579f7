import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jest } from '@jest/globals';
import { lazyStandIn } from './deferred-modules.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODULE = JSON.stringify(fileURLToPath(new URL('./deferred-modules.ts', import.meta.url)));

/** Runs an ES module script in a Node process of its own (hooks are per process); returns its stdout's JSON. */
function runScript(script: string): unknown {
  // Node strips deferred-modules.ts's types itself (it imports built-in modules only).
  const result = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout);
}

describe('lazyStandIn', () => {
  it('loads on first use, once, and then reads, writes and lists as the object', () => {
    const load = jest.fn(() => ({ a: 1, nested: { b: 2 } }) as Record<string, unknown>);
    const standIn = lazyStandIn(load);
    expect(load).not.toHaveBeenCalled();

    expect(standIn.a).toBe(1);
    standIn.c = 3;
    expect('c' in standIn).toBe(true);
    expect(Object.keys(standIn)).toEqual(['a', 'nested', 'c']);
    expect({ ...standIn }).toEqual({ a: 1, nested: { b: 2 }, c: 3 });
    delete standIn.c;
    expect(load.mock.results[0].value).toEqual({ a: 1, nested: { b: 2 } });
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('reports non-configurable properties as they are (exports defined by TypeScript and Babel are)', () => {
    const real = {};
    Object.defineProperty(real, 'fixed', { value: 42, enumerable: true });
    Object.defineProperty(real, 'getter', { get: () => 'got', enumerable: true });
    const standIn = lazyStandIn(() => real) as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(standIn, 'fixed')).toEqual({
      value: 42,
      writable: false,
      enumerable: true,
      configurable: false,
    });
    expect(Object.keys(standIn)).toEqual(['fixed', 'getter']);
    expect(standIn.getter).toBe('got');
  });

  it('calls, constructs, subclasses and answers instanceof as the class', () => {
    class Real {
      constructor(readonly value: number) {}
      static make(v: number) {
        return new Real(v);
      }
    }
    const load = jest.fn(() => Real);
    const StandIn = lazyStandIn(load);
    expect(load).not.toHaveBeenCalled();

    const made = new StandIn(7);
    expect(made).toBeInstanceOf(Real);
    expect(made).toBeInstanceOf(StandIn);
    expect(Object.getPrototypeOf(made)).toBe(Real.prototype);
    expect(StandIn.make(8).value).toBe(8);
    class Sub extends StandIn {}
    expect(new Sub(9)).toBeInstanceOf(Real);
    expect(new Sub(9).value).toBe(9);
    expect(load).toHaveBeenCalledTimes(1);

    const fn = lazyStandIn(() => (x: number) => x * 2);
    expect(fn(21)).toBe(42);
  });
});

describe('deferRequires', () => {
  it('leaves a deferred module unloaded until used, then it works as before; other requires are untouched', () => {
    // class-validator requires libphonenumber-js/max when it loads, for isPhoneNumber().
    const result = runScript(`
      import { createRequire } from 'node:module';
      const { deferRequires } = await import(${MODULE});
      deferRequires([
        { specifier: 'libphonenumber-js/max', from: 'class-validator' },
        { specifier: 'no-such-module', from: 'class-validator' },
      ]);
      const require = createRequire(process.cwd() + '/');
      // The stand-in is in the cache too, under a name of its own.
      const loaded = () => Object.keys(require.cache).some((f) => f.includes('/libphonenumber-js/') && !f.endsWith('stand-in.cjs'));
      const cv = require('class-validator');
      const atLoad = loaded();
      const swiss = cv.isPhoneNumber('+41 44 668 18 00');
      const bad = cv.isPhoneNumber('12');
      const direct = require('libphonenumber-js/max').parsePhoneNumber('+41 44 668 18 00').country;
      console.log(JSON.stringify({ atLoad, swiss, bad, afterUse: loaded(), direct, isEmail: cv.isEmail('a@b.ch') }));`);
    expect(result).toEqual({ atLoad: false, swiss: true, bad: false, afterUse: true, direct: 'CH', isEmail: true });
  });

  it("defers one of Node's modules the same way: loaded on first use, the real one then", () => {
    // prom-client's Pushgateway requires https (and with it tls) when it loads.
    const result = runScript(`
      import { createRequire } from 'node:module';
      const { deferRequires } = await import(${MODULE});
      deferRequires([{ specifier: 'https', from: 'prom-client' }]);
      const loaded = (name) => process.moduleLoadList.includes('NativeModule ' + name);
      const fromPromClient = createRequire(createRequire(process.cwd() + '/').resolve('prom-client/lib/pushgateway.js'));
      const https = fromPromClient('https');
      const atRequire = loaded('https') || loaded('tls');
      const agent = new https.Agent({ keepAlive: true });
      console.log(JSON.stringify({
        atRequire,
        afterUse: loaded('https') && loaded('tls'),
        isAgent: agent instanceof process.getBuiltinModule('https').Agent,
        request: https.request === process.getBuiltinModule('https').request,
        otherModule: fromPromClient('zlib') === process.getBuiltinModule('zlib'),
        elsewhere: createRequire(import.meta.url)('https') === process.getBuiltinModule('https'),
      }));`);
    expect(result).toEqual({
      atRequire: false,
      afterUse: true,
      isAgent: true,
      request: true,
      otherModule: true,
      elsewhere: true,
    });
  });
});

describe('deferBuiltinImports', () => {
  let dir: string;
  beforeAll(() => {
    // A dependency's ES module, under node_modules as the rules expect.
    dir = mkdtempSync(path.join(os.tmpdir(), 'deferred-imports-'));
    mkdirSync(path.join(dir, 'node_modules/dep'), { recursive: true });
    writeFileSync(
      path.join(dir, 'node_modules/dep/index.mjs'),
      [
        "import { Server as TlsServer, createServer } from 'tls';",
        "import * as https from 'node:https';",
        "import zlib from 'zlib';",
        'export const isTls = (server) => server instanceof TlsServer;',
        'export const makeTls = () => createServer();',
        'export const httpsAgent = () => new https.Agent();',
        'export const gzip = (s) => zlib.gzipSync(s).length > 0;',
        'export const line = () => new Error().stack.split("\\n")[1].match(/index.mjs:(\\d+)/)[1];',
      ].join('\n'),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('binds the names a statement imports to stand-ins that load the module on first use', () => {
    const result = runScript(`
      const { deferBuiltinImports } = await import(${MODULE});
      deferBuiltinImports([
        { file: 'dep/index.mjs', statement: "import { Server as TlsServer, createServer } from 'tls';" },
        { file: 'dep/index.mjs', statement: "import * as https from 'node:https';" },
        // Not word for word in the file (as after an upgrade): imported as before.
        { file: 'dep/index.mjs', statement: "import zlib from 'node:zlib';" },
      ]);
      const loaded = (name) => process.moduleLoadList.includes('NativeModule ' + name);
      const dep = await import(${JSON.stringify(pathToFileURL(path.join(dir, 'node_modules/dep/index.mjs')).href)});
      const atImport = { tls: loaded('tls'), https: loaded('https'), zlib: loaded('zlib') };
      const http = process.getBuiltinModule('http');
      const notTls = dep.isTls(new http.Server());
      const tlsServer = dep.makeTls();
      console.log(JSON.stringify({
        atImport,
        notTls,
        isTls: dep.isTls(tlsServer) && tlsServer instanceof process.getBuiltinModule('tls').Server,
        httpsBeforeUse: loaded('https'),
        agent: dep.httpsAgent() instanceof process.getBuiltinModule('https').Agent,
        gzip: dep.gzip('x'),
        line: dep.line(),
      }));`);
    expect(result).toEqual({
      atImport: { tls: false, https: false, zlib: true },
      notTls: false,
      isTls: true,
      httpsBeforeUse: false,
      agent: true,
      gzip: true,
      line: '8',
    });
  });
});

describe('deferHttpUndiciClasses', () => {
  it('keeps an import of node:http from loading undici; its WebSocket, CloseEvent and MessageEvent still work', () => {
    const result = runScript(`
      const undici = () => process.moduleLoadList.some((m) => m.includes('undici'));
      const { deferHttpUndiciClasses } = await import(${MODULE});
      await deferHttpUndiciClasses();
      const http = await import('node:http');
      const atImport = undici();
      const { MessageEvent, CloseEvent, WebSocket } = http;
      const event = new MessageEvent('message', { data: 'x' });
      const afterUse = undici();
      console.log(JSON.stringify({
        atImport,
        afterUse,
        data: event.data,
        isGlobal: event instanceof globalThis.MessageEvent,
        close: new CloseEvent('close', { code: 1000 }).code,
        sameAsRequire: http.default.WebSocket === globalThis.WebSocket,
        webSocketIsClass: typeof WebSocket.prototype.send,
      }));`);
    expect(result).toEqual({
      atImport: false,
      afterUse: true,
      data: 'x',
      isGlobal: true,
      close: 1000,
      sameAsRequire: true,
      webSocketIsClass: 'function',
    });
  });
});
