// The jest CUDA suites as compiled JavaScript (bench/gpu-bundle.sh compiles them into .device/js), for the GPU
// machine, which has Node only as carried there (no TypeScript): no transform.
/** @type {import('jest').Config} */
module.exports = {
  rootDir: '../../.device/js/test',
  testEnvironment: 'node',
  testMatch: ['**/cuda*.test.js'],
  transform: {},
  testTimeout: 120000,
  maxWorkers: 1,
};
