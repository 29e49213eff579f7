/**
 * @nestjs/throttler for Jest. The package is CommonJS and requires @nestjs/common, an ES module since Nest 12.
 * Node loads that through require(esm) (Node >= 20.19), so the service imports the package directly; Jest
 * cannot before Node 24.9. Here the package's own files run unchanged, with `require` resolving @nestjs/common
 * and @nestjs/core to the very ES modules the application uses (one copy of each, as in production).
 * Mapped in jest.config.js on Node 22 only; delete this file with Node 22 support.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as common from '@nestjs/common';
import * as core from '@nestjs/core';

const nodeRequire = createRequire(import.meta.url);
const shared = { '@nestjs/common': common, '@nestjs/core': core };
const loaded = new Map();

function load(file) {
  const cached = loaded.get(file);
  if (cached) return cached.exports;
  const module = { exports: {} };
  loaded.set(file, module);
  const dir = path.dirname(file);
  const require = (id) => {
    if (id in shared) return shared[id];
    if (id.startsWith('.')) return load(nodeRequire.resolve(path.join(dir, id)));
    return nodeRequire(id);
  };
  const source = readFileSync(file, 'utf8');
  new Function('exports', 'require', 'module', '__filename', '__dirname', source)(
    module.exports,
    require,
    module,
    file,
    dir,
  );
  return module.exports;
}

// Through package.json: jest maps the bare name to this file.
const packageDir = path.dirname(nodeRequire.resolve('@nestjs/throttler/package.json'));
const throttler = load(path.join(packageDir, JSON.parse(readFileSync(path.join(packageDir, 'package.json'))).main));

export const {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  SkipThrottle,
  Throttle,
  ThrottlerException,
  ThrottlerGuard,
  ThrottlerModule,
  ThrottlerStorageService,
  getOptionsToken,
  getStorageToken,
} = throttler;
export default throttler;
