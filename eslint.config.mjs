// Lint is part of `npm test`: no floating promises, exhaustive switches, no deep imports across
// apps, libs and plugins (CONVENTIONS.md §11).
import graphql from '@graphql-eslint/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // examples/ holds projects of their own (their own package.json, SDK from a tarball, tsconfig): checked by their own build.
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'examples/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: ['**/*.ts', '**/*.mts', '**/*.cts'] })),
  {
    files: ['**/*.ts', '**/*.mts', '**/*.cts'],
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
            { group: ['@netloom/*', '!@netloom/plugin-sdk', '!@netloom/plugin-sdk/testing'], message: 'A plugin imports @netloom/plugin-sdk and nothing else of ours.' },
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
  {
    // The served schema, as generic GraphQL clients read it: naming, descriptions, Relay's
    // connection and object-identification conventions (README "raw GraphQL", DESIGN.md).
    files: ['schema.graphql'],
    languageOptions: { parser: graphql.parser, parserOptions: { graphQLConfig: { schema: 'schema.graphql' } } },
    plugins: { '@graphql-eslint': graphql },
    rules: {
      ...graphql.configs['flat/schema-recommended'].rules,
      ...graphql.configs['flat/schema-relay'].rules,
      // Every type and every root field has a description; the root types are described by their
      // fields. (The rule's own rootField option checks nothing in v4.4: its regex joins the root
      // names with ",". So: every field, but those outside the root types.)
      '@graphql-eslint/require-description': [
        'error',
        {
          types: true,
          FieldDefinition: true,
          ignoredSelectors: [
            'ObjectTypeDefinition[name.value=/^(Query|Mutation|Subscription)$/]',
            ':not(ObjectTypeDefinition[name.value=/^(Query|Mutation|Subscription)$/]) > FieldDefinition',
          ],
        },
      ],
      // Lists that are not pages are deliberate: each has a small declared bound (labels 64, a
      // port's fixed IPs 16, status one per host, the parts of one stored row), which the cost
      // limit counts (DESIGN.md, Limits). Every list of objects that can grow is a connection.
      '@graphql-eslint/relay-edge-types': ['error', { listTypeCanWrapOnlyEdgeType: false }],
      // Objects with an identity have `id: ID!` (and are Nodes); these are values with none:
      // pages and their parts, mutation payloads, the parts of one stored row (labels, pools, a
      // plugin spec's nested objects, observed state), and per-host state keyed by its parent.
      // A new value type must be added here on purpose.
      '@graphql-eslint/strict-id-in-types': [
        'error',
        {
          exceptions: {
            suffixes: ['Connection', 'Edge', 'Payload', 'Observed', 'Label'],
            types: [
              'PageInfo',
              'AllocationPool',
              'AllowedAddressPair',
              'FixedIp',
              'HostAgent',
              'ProviderMapping',
              'ResourceStatus',
              // A plugin resource's placement: part of the resource, computed, never stored apart.
              'ResourcePlacement',
              'PortCounters',
              'AddressGroupSelector',
              'FirewallPolicyPortRange',
              'FirewallPolicyRule',
              'FirewallPolicySelector',
              'LoadBalancerHealthMonitor',
              'LoadBalancerListener',
              'LoadBalancerMember',
              'LoadBalancerPool',
              'RouterFloatingIp',
              'RouterInterface',
              'RouterRoute',
              'TraceHop',
              'TraceMember',
              'TraceProbe',
              'TraceRuleHit',
              // A plan (computed for one query, never stored) and its parts.
              'Plan',
              'HostPlan',
              'PlanCommand',
              'PlanFieldChange',
              'PlanStepResult',
            ],
          },
        },
      ],
      // Its one hit is Port.portSecurity, Neutron's name for it and part of the released API; the
      // rule takes no per-field exception and schema.graphql is generated (no inline comments).
      '@graphql-eslint/no-typename-prefix': 'off',
    },
  },
);
