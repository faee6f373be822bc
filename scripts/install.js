#!/usr/bin/env node
// The package's `install` script (also what `npm rebuild vggnet` runs). In an installed package it checks
// that the loader finds a binary for this platform (the per-platform package npm picked, or a local build);
// when none loads (`npm rebuild vggnet` after adding cmake-js), or when asked (npm_config_build_from_source=true),
// it builds the addon from the shipped sources with cmake-js into build/Release, where the loader looks
// first. Without cmake-js it prints what to install and exits 0 when nothing asked for a build (loading then
// throws the same advice), 1 when a build was asked for. In a source checkout it does nothing: `prepare`
// builds there.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const flag = process.env.npm_config_build_from_source;
const asked = flag === 'true' || flag === '' || flag === 'vggnet';

if (fs.existsSync(path.join(root, 'native', 'testing'))) {
  console.log('vggnet: source checkout, `npm run build` (prepare) builds the addon');
  process.exit(0);
}
if (!asked) {
  try {
    require(path.join(root, 'dist', 'native.js')).native();
    process.exit(0);
  } catch (e) {
    console.log(`vggnet: no prebuilt binary loads here; building from source.\n${e.message}`);
  }
}

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  const advice = require(path.join(root, 'dist', 'native.js')).BUILD_FROM_SOURCE;
  console.error(`vggnet: cannot build from source, cmake-js is not installed. ${advice}`);
  process.exit(asked ? 1 : 0);
}
const r = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--out', 'build'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('vggnet: the build from source failed (output above)');
  process.exit(1);
}
require(path.join(root, 'dist', 'native.js')).native();
console.log('vggnet: built from source into build/Release/vggnet.node');
