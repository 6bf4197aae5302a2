/** Unit specs live next to the code; integration and end-to-end specs under test/. All run against real services. */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json', diagnostics: false }],
    // @fastify/static needs content-disposition 3, which ships only as ESM: Node 20 loads it with require(esm),
    // Jest's CommonJS sandbox cannot, so it is compiled to CommonJS for the tests.
    '/node_modules/content-disposition/.+\\.js$': [
      'ts-jest',
      { tsconfig: { allowJs: true, module: 'commonjs', isolatedModules: true }, diagnostics: false },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!content-disposition/)'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^@app/([a-z-]+)$': '<rootDir>/libs/$1/src',
  },
  maxWorkers: 2,
  testTimeout: 60_000,
  slowTestThreshold: 30,
};
