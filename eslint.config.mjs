// Lint settings of the kit: typescript-eslint's recommended rules (syntax only, so `npm run lint`
// stays a few seconds), with `any` allowed only where a comment says why (library boundaries).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'native/build/', 'figures/', '**/*.js', '!eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
      // Optional and heavy modules (the native addon, tfjs-node-gpu, danfojs, playwright, plotly.js)
      // are loaded with require() where they are used, so a missing optional one fails only there.
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // Tests may build malformed inputs on purpose.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
