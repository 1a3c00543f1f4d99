import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportAllDeclaration', message: 'name exports explicitly (STYLE.md 6)' }],
    },
  },
  {
    // the store's public API is its index (core/store/index.ts): no other folder reaches into a module
    files: ['core/**/*.ts', 'cli/**/*.ts', 'api/**/*.ts', 'worker/**/*.ts', 'operator/**/*.ts', 'bench/**/*.ts'],
    ignores: ['core/store/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/store/*', '!**/store/index.ts'], message: 'import the store through core/store/index.ts' }] }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: { 'no-restricted-properties': ['error', { object: 'it', property: 'only' }, { object: 'test', property: 'only' }, { object: 'describe', property: 'only' }] },
  },
);
