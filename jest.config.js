/**
 * Jest in ESM mode (NestJS 12 ships ES modules): `npm test` runs node with
 * --experimental-vm-modules. One CommonJS dependency (@fastify/static, for the
 * /docs UI) requires an ES-only package, which Jest cannot load on Node 20
 * without a CommonJS copy: that package alone is transpiled.
 */
const ESM_ONLY_REQUIRED_FROM_CJS = ['content-disposition'];

export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true }],
    [`/node_modules/(${ESM_ONLY_REQUIRED_FROM_CJS.join('|')})/.+\\.js$`]: [
      'ts-jest',
      { useESM: false, tsconfig: { allowJs: true, module: 'commonjs', target: 'es2022', verbatimModuleSyntax: false } },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY_REQUIRED_FROM_CJS.join('|')})/)`],
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  globalSetup: '<rootDir>/test/helpers/global-setup.mjs',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.mjs',
  testTimeout: 30_000,
  maxWorkers: 2,
};
