// Jest runs in its ES-module mode (see docs/architecture.md: the project is ESM because NestJS 12 is).
// @swc/jest compiles TypeScript with decorator metadata, which Nest's DI reads.
const swc = ['@swc/jest', {}];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    // Sources import `./x.js` as Node's ESM resolution wants; jest finds the `.ts` file.
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // A CommonJS package that requires ES modules: see the file (Jest cannot require(esm) before Node 24.9).
    '^@nestjs/throttler$': '<rootDir>/test/support/nestjs-throttler.mjs',
  },
  testEnvironment: 'node',
};

export default {
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'unit', roots: ['<rootDir>/src'], testMatch: ['**/*.spec.ts'] },
    { ...common, displayName: 'e2e', roots: ['<rootDir>/test'], testMatch: ['**/*.e2e-spec.ts'] },
  ],
};
