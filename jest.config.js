// Jest runs in its ES-module mode (see docs/architecture.md: the project is ESM because NestJS 12 is).
// @swc/jest compiles TypeScript with decorator metadata, which Nest's DI reads.
const swc = ['@swc/jest', {}];

// @nestjs/throttler is CommonJS and requires @nestjs/common, an ES module. Jest loads it through require(esm) from
// Node 24.9 on, provided @nestjs/common is evaluated before the test's module graph is walked (else Jest reports a
// require(esm) cycle): test/support/preload-nest.mjs. Older Node (22): a shim, see test/support/nestjs-throttler.mjs.
const [major, minor] = process.versions.node.split('.').map(Number);
const jestRequiresEsm = major > 24 || (major === 24 && minor >= 9);

const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    // Sources import `./x.js` as Node's ESM resolution wants; jest finds the `.ts` file.
    '^(\\.{1,2}/.*)\\.js$': '$1',
    ...(jestRequiresEsm ? {} : { '^@nestjs/throttler$': '<rootDir>/test/support/nestjs-throttler.mjs' }),
  },
  setupFiles: jestRequiresEsm ? ['<rootDir>/test/support/preload-nest.mjs'] : [],
  testEnvironment: 'node',
};

export default {
  testTimeout: 30000,
  // The process specs start the build (dist/) as `npm start` does: built once here, when it is older than src/.
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  projects: [
    { ...common, displayName: 'unit', roots: ['<rootDir>/src'], testMatch: ['**/*.spec.ts'] },
    { ...common, displayName: 'e2e', roots: ['<rootDir>/test'], testMatch: ['**/*.e2e-spec.ts'] },
  ],
};
