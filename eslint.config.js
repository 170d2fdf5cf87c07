// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/**
 * Imports point one way (DESIGN.md):
 *   api -> search | ingest | train -> models -> media | store -> onnx -> config/errors/logger
 * Each zone below lists what a layer may NOT import; nothing in src/ imports scripts/ or test/.
 */
const layer = (target, ...from) => ({ target: `./src/${target}`, from: from.map((f) => `./src/${f}`) });
const zones = [
  layer('onnx', 'api', 'search', 'ingest', 'train', 'models', 'media', 'store'),
  layer('store', 'api', 'search', 'ingest', 'train', 'models', 'media'),
  layer('media', 'api', 'search', 'ingest', 'train', 'models', 'store'),
  layer('models', 'api', 'search', 'ingest', 'train', 'store'),
  layer('train', 'api', 'search', 'ingest'),
  layer('ingest', 'api', 'search', 'train'),
  layer('search', 'api', 'ingest', 'train'),
  { target: './src', from: ['./scripts', './test'] },
];

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'coverage/', 'src/api/generated/', 'src/api/web/vendor/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver()] },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read settings through src/config.ts only.' },
      ],
    },
  },
  {
    // config.ts is the one reader of the environment; tests and scripts set it up for children.
    files: ['src/config.ts', 'test/**', 'vitest.config.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    // Install hooks run in plain Node before devDependencies exist.
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly' } },
  },
  {
    files: ['src/api/web/**/*.js'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        fetch: 'readonly',
        FormData: 'readonly',
        FileReader: 'readonly',
        URL: 'readonly',
        URLSearchParams: 'readonly',
        AbortController: 'readonly',
        XMLHttpRequest: 'readonly',
        DOMException: 'readonly',
        history: 'readonly',
        location: 'readonly',
        console: 'readonly',
      },
    },
  },
);
