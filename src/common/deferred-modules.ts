import { createRequire, isBuiltin, registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * A stand-in for the value `load()` returns, which it calls on first use: reading, writing or listing a property,
 * calling it, constructing with it. Then it behaves as that value (an object or a function), except that `typeof`
 * says 'function' even when the value is an object, and it is not `===` the value.
 */
export function lazyStandIn<T extends object>(load: () => T): T {
  let value: T | undefined;
  const real = (): T => (value ??= load());
  // A bound function: callable and constructible, and with no own `prototype`, which the Proxy's invariants would
  // then require every key list to show.
  const target = function () {}.bind(undefined);
  // A property the value reports as non-configurable must exist as such on the target (Proxy invariant).
  const mirror = (key: PropertyKey, descriptor: PropertyDescriptor | undefined) => {
    if (descriptor && !descriptor.configurable) Reflect.defineProperty(target, key, descriptor);
    return descriptor;
  };
  const proxy: T = new Proxy(target, {
    get: (_, key) => Reflect.get(real(), key),
    set: (_, key, v) => Reflect.set(real(), key, v),
    has: (_, key) => Reflect.has(real(), key),
    deleteProperty: (_, key) => Reflect.deleteProperty(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_, key) => mirror(key, Reflect.getOwnPropertyDescriptor(real(), key)),
    defineProperty: (_, key, descriptor) => {
      if (!Reflect.defineProperty(real(), key, descriptor)) return false;
      mirror(key, Reflect.getOwnPropertyDescriptor(real(), key));
      return true;
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    setPrototypeOf: (_, proto) => Reflect.setPrototypeOf(real(), proto),
    apply: (_, self, args) => Reflect.apply(real() as (...a: unknown[]) => unknown, self, args),
    construct: (_, args, newTarget) => {
      const constructor = real() as new (...a: unknown[]) => object;
      return Reflect.construct(constructor, args, newTarget === proxy ? constructor : newTarget);
    },
  }) as unknown as T;
  return proxy;
}

/** `require(specifier)` from a file of the package `from` (its folder under node_modules). */
export interface DeferredRequire {
  specifier: string;
  from: string;
}

/** Ends the URL of a stand-in: the real module's URL, then this (a file name of its own in require's cache). */
const STAND_IN = '.deferred-stand-in.cjs';
const SELF = fileURLToPath(import.meta.url);

/**
 * Makes each `require(specifier)` of the rules, made from a file of the package `from`, return a stand-in
 * ({@link lazyStandIn}) that loads the real module when it is first used. For modules that a dependency loads when
 * it is loaded, for a feature the service never uses (their source, bytecode and data then stay out of memory).
 * The module may be one of Node's own (`https`): its stand-in is then a file of its own next to this one.
 *
 * Only require() of CommonJS is deferred: an `import` needs the real module's export names when it is linked
 * ({@link deferBuiltinImports} for those of Node's modules). A rule that no longer matches (the package moved or
 * dropped the file) does nothing: the module is loaded as before.
 * Must run before the requiring module is loaded (main.ts: before the application's modules are linked).
 */
export function deferRequires(rules: readonly DeferredRequire[]): void {
  const matches = (specifier: string, parentURL: string | undefined) =>
    parentURL !== undefined &&
    rules.some((r) => r.specifier === specifier && parentURL.includes(`/node_modules/${r.from}/`));
  // Stand-in URL -> what its module requires: the real module's path, or a built-in module's `node:` name.
  const standIns = new Map<string, string>();
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      if (!context.conditions.includes('require') || !matches(specifier, context.parentURL)) return resolved;
      let url: string;
      if (resolved.url.startsWith('file:')) {
        url = resolved.url + STAND_IN;
        standIns.set(url, fileURLToPath(resolved.url));
      } else if (resolved.url.startsWith('node:')) {
        url = new URL(`${resolved.url.slice('node:'.length).replace(/\W/g, '-')}${STAND_IN}`, import.meta.url).href;
        standIns.set(url, resolved.url);
      } else {
        return resolved;
      }
      return { ...resolved, url, format: 'commonjs', shortCircuit: true };
    },
    load(url, context, nextLoad) {
      const real = standIns.get(url);
      if (real === undefined) return nextLoad(url, context);
      // This module is ES: require() of it (Node >= 22.12) returns the one already loaded.
      const source = `module.exports = require(${JSON.stringify(SELF)}).lazyStandIn(() => require(${JSON.stringify(real)}));\n`;
      return { format: 'commonjs', source, shortCircuit: true };
    },
  });
}

/** The statement `statement`, word for word, in the ES module `file` (its path under node_modules). */
export interface DeferredImport {
  file: string;
  statement: string;
}

/** `import * as name from 'm'`, `import name from 'm'` or `import { a, b as c } from 'm'`, of a built-in module. */
const IMPORT = /^import\s+(?:\*\s+as\s+([\w$]+)|([\w$]+)|\{([\w$,\s]+)\})\s+from\s+(['"])(?:node:)?([\w/]+)\4;?$/;
const NAMED = /^([\w$]+)(?:\s+as\s+([\w$]+))?$/;

/** `name` of the built-in module `specifier` (its exports without a name), as a stand-in loaded on first use. */
export function builtinStandIn(specifier: string, name?: string): object {
  return lazyStandIn(() => {
    const exports = process.getBuiltinModule(specifier) as Record<string, object>;
    return name === undefined ? exports : exports[name];
  });
}

/** The declarations that replace an import statement of {@link IMPORT}'s form, or undefined for any other. */
function standInDeclarations(statement: string): string | undefined {
  const [, namespace, defaultName, named, , specifier] = IMPORT.exec(statement.trim()) ?? [];
  if (!specifier || !isBuiltin(specifier)) return undefined;
  const node = JSON.stringify(`node:${specifier}`);
  if (namespace || defaultName) return `const ${namespace ?? defaultName} = __builtinStandIn(${node});`;
  const bindings = named
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => NAMED.exec(part));
  if (bindings.length === 0 || bindings.some((b) => b === null)) return undefined;
  return `const ${bindings.map((b) => `${b![2] ?? b![1]} = __builtinStandIn(${node}, ${JSON.stringify(b![1])})`).join(', ')};`;
}

/**
 * Replaces each import statement of the rules, an import of one of Node's modules found word for word in the ES
 * module `file` of a dependency, with constants bound to stand-ins ({@link builtinStandIn}) of what it imports: the
 * module is loaded when one of them is first used. For modules a dependency imports for a feature the service
 * never uses (its `https` server). The names imported by `{ ... }` must be functions or objects (a stand-in is a
 * Proxy), and a namespace (`* as`) reads as the module's exports object (no `default`).
 *
 * A statement that is no longer there word for word (after an upgrade) is not replaced: the module is imported as
 * before. The replacement takes one line, so that stack traces keep their line numbers.
 * Must run before the importing module is loaded (main.ts: before the application's modules are linked).
 */
export function deferBuiltinImports(rules: readonly DeferredImport[]): void {
  const helper = `import { builtinStandIn as __builtinStandIn } from ${JSON.stringify(import.meta.url)};`;
  const replacements = rules.flatMap(({ file, statement }) => {
    const declarations = standInDeclarations(statement);
    return declarations ? [{ suffix: `/node_modules/${file}`, statement, declarations }] : [];
  });
  registerHooks({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context);
      const mine = replacements.filter((r) => url.endsWith(r.suffix));
      if (mine.length === 0 || loaded.format !== 'module' || loaded.source == null) return loaded;
      let source = typeof loaded.source === 'string' ? loaded.source : new TextDecoder().decode(loaded.source);
      let changed = false;
      for (const { statement, declarations } of mine) {
        if (!source.includes(statement)) continue;
        source = source.replace(statement, `${changed ? '' : helper}${declarations}`);
        changed = true;
      }
      return changed ? { ...loaded, source } : loaded;
    },
  });
}

/** What node:http takes from undici when they are read (Node >= 22.5). */
const HTTP_UNDICI_CLASSES = ['WebSocket', 'CloseEvent', 'MessageEvent'] as const;

/**
 * Keeps `import ... from 'node:http'` from loading undici (about 3 MB of RSS with the HTTP/2 modules it loads).
 *
 * Why: the ES view of a built-in module reads every export once, when it is first imported; node:http's WebSocket,
 * CloseEvent and MessageEvent are getters that load undici, Node's fetch (nodejs/node#59686). This makes that view
 * now, with stand-ins ({@link lazyStandIn}) as those three exports, then puts node:http's getters back: `require`
 * and the default import see them as before; the named imports are stand-ins that read them on first use.
 * Must run before any module imports node:http (main.ts: before the application's modules are linked).
 */
export async function deferHttpUndiciClasses(): Promise<void> {
  const http = createRequire(import.meta.url)('node:http') as Record<string, unknown>;
  const getters = HTTP_UNDICI_CLASSES.flatMap((name) => {
    const descriptor = Object.getOwnPropertyDescriptor(http, name);
    return descriptor?.get && descriptor.configurable ? [{ name, descriptor }] : [];
  });
  for (const { name, descriptor } of getters) {
    const standIn = lazyStandIn(() => descriptor.get!.call(http) as object);
    Object.defineProperty(http, name, { value: standIn, configurable: true, enumerable: descriptor.enumerable });
  }
  try {
    await import('node:http');
  } finally {
    for (const { name, descriptor } of getters) Object.defineProperty(http, name, descriptor);
  }
}
