// Two projects: `unit` (pure logic, next to the code) and `e2e` (real processes, test/).
// Type-checking is `npm run typecheck`; here ts-jest only transpiles (isolatedModules), which
// halves the run.
const moduleNameMapper = {
  '^@netloom/model$': '<rootDir>/libs/model/src',
  '^@netloom/model/(.*)$': '<rootDir>/libs/model/src/$1',
  '^@netloom/migrations$': '<rootDir>/migrations',
  '^@netloom/protocol$': '<rootDir>/libs/protocol/src',
  '^@netloom/plugin-sdk$': '<rootDir>/libs/plugin-sdk/src',
  '^@netloom/plugin-sdk/testing$': '<rootDir>/libs/plugin-sdk/src/testing',
  '^@netloom/plugin-host$': '<rootDir>/libs/plugin-host/src',
  '^@netloom/linux$': '<rootDir>/libs/linux/src',
  '^@netloom/simhosts$': '<rootDir>/libs/simhosts/src',
  '^@netloom/cli$': '<rootDir>/libs/cli/src',
  '^@netloom/planner$': '<rootDir>/libs/planner/src',
  // unicorn-magic's `exports` has only an `import` condition; jest resolves `require`.
  '^unicorn-magic$': '<rootDir>/node_modules/unicorn-magic/node.js',
};
// execa 9 and its ESM-only dependency tree are transpiled to CommonJS for jest.
const esmPackages = [
  'execa', 'strip-final-newline', 'npm-run-path', 'path-key', 'unicorn-magic', 'mimic-fn',
  'onetime', 'human-signals', 'is-stream', 'get-stream', 'figures', 'is-unicode-supported',
  'is-plain-obj', 'parse-ms', 'pretty-ms', 'yoctocolors', '@sindresorhus/merge-streams',
  'cross-spawn', '@sec-ant/readable-stream',
];
const transform = {
  '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true }, diagnostics: false }],
};
const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper,
  transform,
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
};

module.exports = {
  // Two files at a time, even on two cores: the e2e files mostly wait on processes, the kernel
  // and the network, and every one names what it makes with a per-run prefix, so they run side
  // by side (jest's default here would be one: cores − 1).
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{apps,libs,plugins}/**/*.spec.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
    },
    {
      // The controller-only suites again, on PostgreSQL (a throwaway cluster per file).
      ...common,
      displayName: 'e2e-postgres',
      testMatch: ['<rootDir>/test/{api,bad-input,auth,dataloader,query-cost,acks,audit,node,plan}.e2e-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/postgres-suite.ts'],
    },
  ],
};
