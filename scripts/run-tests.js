#!/usr/bin/env node
// Runs jest (extra arguments pass through), then the CUDA suites again on the addon built for the host
// emulator (the emulated pass), and ends with the line CI reads: `N passed, N failed, N skipped` over both
// (skipped: jest's pending + todo tests). Exit status: non-zero when either pass failed or its results could
// not be read.
//
// The emulated pass: build-emu-addon/ (`npm run build:native:emu`, built here, incrementally) is the addon with
// native/cuda compiled as C++ against native/cuda/emulation, whose 'cuda:0' is an emulated device in host memory.
// On it the CUDA suites run without a GPU: every op against the reference, graphs, device-resident tensors.
// It runs when no arguments were given or one names an emulated suite; VGGNET_TEST_EMULATION=0 turns it off.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const EMULATED_SUITES = ['test/cuda.test.ts', 'test/cuda-tensors.test.ts'];
const EMULATED_ADDON = path.join(root, 'build-emu-addon', 'Release', 'vggnet.node');

/** One jest run; its counts (a run whose results cannot be read counts as 1 failed). */
function jest(args, env) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-jest-'));
  const out = path.join(dir, 'results.json');
  const run = spawnSync(
    process.execPath,
    [require.resolve('jest/bin/jest'), '--json', `--outputFile=${out}`, ...args],
    {
      stdio: 'inherit',
      cwd: root,
      env,
    },
  );
  const counts = { passed: 0, failed: 1, skipped: 0, ok: false };
  try {
    const r = JSON.parse(fs.readFileSync(out, 'utf8'));
    counts.passed = r.numPassedTests;
    counts.failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
    counts.skipped = r.numPendingTests + r.numTodoTests;
    counts.ok = run.status === 0 && counts.failed === 0;
  } catch (e) {
    console.error(`could not read jest results: ${e.message}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return counts;
}

const args = process.argv.slice(2);
const total = jest(args, process.env);

const wanted = args.length === 0 || args.some((a) => EMULATED_SUITES.some((s) => s.includes(a.replace(/^\.\//, ''))));
if (process.env.VGGNET_TEST_EMULATION !== '0' && wanted) {
  console.log('\n== emulated pass: the CUDA suites on the host emulator (build-emu-addon) ==');
  const build = spawnSync('npm', ['run', '--silent', 'build:native:emu'], { cwd: root, encoding: 'utf8' });
  let emu;
  if (build.status !== 0 || !fs.existsSync(EMULATED_ADDON)) {
    console.error(`${build.stdout ?? ''}${build.stderr ?? ''}\nemulated pass: building ${EMULATED_ADDON} failed`);
    emu = { passed: 0, failed: 1, skipped: 0, ok: false };
  } else {
    const suites = args.length === 0 ? EMULATED_SUITES : args;
    const env = { ...process.env, VGGNET_NATIVE: EMULATED_ADDON };
    delete env.VGGNET_TESTING_NATIVE; // the testing addon beside it (test/support/kernels.ts)
    emu = jest(suites, env);
  }
  console.log(`emulated pass: ${emu.passed} passed, ${emu.failed} failed, ${emu.skipped} skipped`);
  for (const k of ['passed', 'failed', 'skipped']) total[k] += emu[k];
  total.ok = total.ok && emu.ok;
}
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.ok ? 0 : 1);
