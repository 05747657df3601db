// ESLint flat config: type-aware typescript-eslint rules, and the architecture's import
// boundaries (docs/ARCHITECTURE.md "Dependency direction") enforced as errors.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const NODE_BUILTINS = ['node:*', 'fs', 'path', 'http', 'https', 'net', 'crypto', 'child_process', 'os', 'worker_threads', 'stream', 'timers'];
const IO_PACKAGES = ['pg', 'ioredis', 'stripe', 'fastify', '@fastify/*', 'ws', 'pino', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tollgate/', 'coverage/', 'admin-ui/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    // Resolve `./x.js` specifiers to their `.ts` sources, so the boundary rule sees real paths.
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Transports and Fastify handlers return promises by contract, with or without an await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './core', from: ['./platform', './gateway', './workflows', './activities', './workers', './scripts', './test'], message: 'core is workflow-safe shared code: it imports nothing but itself.' },
            { target: './platform', from: ['./gateway', './workflows', './activities', './workers', './scripts', './test'], message: 'platform holds adapters; it depends on core only.' },
            { target: './workflows', from: ['./platform', './gateway', './activities', './workers', './scripts'], message: 'workflows are deterministic: they import core and @temporalio/workflow only.' },
            { target: './activities', from: ['./gateway', './workflows', './workers', './scripts'], message: 'activities depend on core and platform.' },
            { target: './gateway', from: ['./workflows', './activities', './workers', './scripts'], message: 'the gateway never imports workflows, activities or workers; it starts workflows by name.' },
            { target: './workers', from: ['./gateway', './workflows', './scripts'], message: 'workers load workflows by path (bundled), never by import.' },
          ],
        },
      ],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no I/O, no Node builtins.
    files: ['workflows/**/*.ts', 'core/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NODE_BUILTINS, message: 'No Node builtins here: this code must run in the workflow sandbox.' },
            { group: IO_PACKAGES, message: 'No I/O packages here: this code must run in the workflow sandbox.' },
          ],
        },
      ],
    },
  },
  {
    // Configuration is read once, in platform/config.ts; everything else receives it.
    files: ['core/**/*.ts', 'platform/**/*.ts', 'gateway/**/*.ts', 'workflows/**/*.ts', 'activities/**/*.ts', 'workers/**/*.ts'],
    ignores: ['platform/config.ts', '**/*.test.ts'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read settings through loadConfig() (platform/config.ts).' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: globals.node },
  },
);
