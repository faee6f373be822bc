// ESLint flat config: the recommended (not type-checked) rules of ESLint and typescript-eslint over lib/,
// test/, bench/ and scripts/. Layout is Prettier's job (eslint-config-prettier turns the clashing rules off).
const { defineConfig, globalIgnores } = require('eslint/config');
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const prettier = require('eslint-config-prettier/flat');
const globals = require('globals');

module.exports = defineConfig(
  globalIgnores([
    'dist/',
    'build/',
    'build-*/',
    'node_modules/',
    'prebuilds/',
    'bench/.build/',
    'fuzz/.build/',
    'coverage/',
  ]),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // `const { dropped, ...kept } = o` is how the code omits a property.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: {
      // CommonJS scripts load modules with require().
      '@typescript-eslint/no-require-imports': 'off',
      // A top-level `const crypto = require('crypto')` lives in the module's scope, it does not redeclare the global.
      'no-redeclare': ['error', { builtinGlobals: false }],
    },
  },
  // The loaders require an addon by a path computed at run time (and node-gyp-build only when needed).
  { files: ['lib/native.ts', 'test/support/kernels.ts'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  { files: ['test/**/*.ts'], languageOptions: { globals: globals.jest } },
  prettier,
);
