#!/usr/bin/env node
// Runs clang-format (the binary in the `clang-format` npm package) with the given arguments over the C++/CUDA
// sources: native/**/*.{h,cpp,cu,cuh} and bench/harness/*. `npm run format` passes -i, `format:check`
// passes --dry-run -Werror. Exit status: clang-format's.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const sources = (dir, re) =>
  fs
    .readdirSync(path.join(root, dir), { recursive: true })
    .filter((f) => re.test(f))
    .map((f) => path.join(dir, f))
    .sort();
const files = [...sources('native', /\.(h|cpp|cu|cuh)$/), ...sources('bench/harness', /\.(h|cpp)$/)];
const bin = require('clang-format').getNativeBinary();
const run = spawnSync(bin, [...process.argv.slice(2), ...files], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
