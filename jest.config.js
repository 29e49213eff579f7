// Jest runs in its ES-module mode (see docs/architecture.md: the project is ESM because NestJS 12 is).
// @swc/jest compiles TypeScript with decorator metadata, which Nest's DI reads.
const swc = ['@swc/jest', {}];

const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    // Sources import `./x.js` as Node's ESM resolution wants; jest finds the `.ts` file.
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
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
