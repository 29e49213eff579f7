import { readFileSync } from 'node:fs';
import semver from 'semver';
import { isSupportedNode } from './node-version.js';

describe('isSupportedNode', () => {
  const engines = (JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } }).engines.node;

  it.each([
    '18.20.0',
    '20.20.2',
    '21.7.3',
    '22.0.0',
    '22.22.2',
    '22.22.3',
    '22.23.0',
    '23.11.0',
    '24.0.0',
    '24.14.9',
    '24.15.0',
    '24.22.3',
    '25.1.0',
    '26.0.0',
  ])('agrees with package.json engines on %s', (version) => {
    expect(isSupportedNode(version)).toBe(semver.satisfies(version, engines));
  });
});
