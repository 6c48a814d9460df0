// Lint with the type checker's knowledge: the bugs worth a linter's time here (a promise nobody
// waits for, a promise-returning callback where nothing awaits it, a switch that misses a case)
// need types to see. `npm run lint`; CI fails on any finding.

import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/**', 'native/**', 'node_modules/**', 'test/artifacts/**', '.hipvpn-state/**'] },

  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,

  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
      parserOptions: {
        // The three programs typecheck runs: node code, the Electron main process, the renderer.
        // A file goes to the first program that includes it (src-shared: the node one).
        project: ['./tsconfig.json', './tsconfig.electron.json', './src-renderer/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // On top of recommendedTypeChecked: bugs the type checker cannot see on its own.
      // node:test's top-level test() and describe() return promises the runner itself awaits;
      // a subtest's t.test() is not on this list and must be awaited.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // An awaited promise returned from inside try/catch/finally: without the await, its
      // rejection skips the catch and the finally runs too early.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/no-deprecated': 'error',
      // The default sort compares numbers as strings (10 before 9).
      '@typescript-eslint/require-array-sort-compare': ['error', { ignoreStringArrays: true }],
      // `== null` is the one loose comparison kept: it means null or undefined.
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // A `let` read by a callback before its one assignment (a handler registered before the
      // object it calls exists) cannot become a const without a temporal-dead-zone throw.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Classes with their own toString() are fine in templates; no-base-to-string still
      // catches an object that would print as [object Object].
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        {
          allowAny: true, allowBoolean: true, allowNullish: true, allowNumber: true, allowRegExp: true,
          allow: [
            { from: 'lib', name: ['Error', 'URL', 'URLSearchParams'] },
            { from: 'file', name: ['Link', 'LinkEnd'], path: 'lab/link.ts' },
          ],
        },
      ],

      // Off: rules that fight deliberate style here.
      // `async` without `await` is deliberate: a throw becomes a rejection, and fakes of async
      // interfaces (the control transport, IPC invoke) stay async like what they stand in for.
      '@typescript-eslint/require-await': 'off',
      // Not enabled (no-unnecessary-condition): its findings here are re-checks of state after an
      // await (this.stopped) and guards in after() hooks on variables that before() sets, which
      // type narrowing cannot see; "fixing" them would remove real guards.
    },
  },

  {
    files: ['src-renderer/src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },

  // Scripts and build configs outside the three programs: linted without type information.
  {
    files: ['**/*.{js,mjs}', 'src-renderer/vite.config.ts'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
