// ESLint flat config: typescript-eslint's recommended rules, tuned where they are noise for a NestJS service.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'coverage/', 'node_modules/', 'test-output/', 'bench-results/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: {
      // `_name` marks a parameter kept for its position (Nest handlers, callbacks).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      // No-op callbacks and empty constructors with parameter properties are normal in Nest.
      '@typescript-eslint/no-empty-function': 'off',
      'no-empty-function': 'off',
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', 'test/**/*.ts'],
    languageOptions: { globals: { ...globals.jest } },
  },
  {
    // The console's scripts run in the browser, not in Node.
    files: ['src/console/public/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
