// Lint is part of `npm test`: no floating promises, exhaustive switches, no deep imports across
// apps, libs and plugins (CONVENTIONS.md §11).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/api-report.d.ts'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@netloom/*/src', '@netloom/*/src/*'], message: 'Import a library by its name, not its files.' },
            { group: ['**/libs/*', '**/apps/*', '**/plugins/*'], message: 'Cross-package imports go through @netloom/<name>.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // A plugin, built-in or not, sees NetLoom only through the SDK (CONVENTIONS.md §7).
    files: ['plugins/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@netloom/*', '!@netloom/plugin-sdk'], message: 'A plugin imports @netloom/plugin-sdk and nothing else of ours.' },
            { group: ['**/libs/*', '**/apps/*', '../../*'], message: 'A plugin imports @netloom/plugin-sdk and nothing else of ours.' },
          ],
        },
      ],
    },
  },
  {
    // End-to-end tests may reach into every package (DESIGN.md, folder table).
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
