#!/usr/bin/env node
// Generates the npm packages of a release (sharp's layout): one package per platform holding only its
// binary, with `os`/`cpu`/`libc` so npm installs only the one that fits, and the main package with those
// as optionalDependencies. The binaries are built first (never committed):
//   linux-x64       build-cpu/Release/vggnet.node    npm run build:native:cpu   (CPU-only)
//   linux-x64-cuda  build/Release/vggnet.node        npm run build:native       (with nvcc: CUDA compiled in)
//   linux-arm64     build-arm64/Release/vggnet.node  npm run build:native:arm64 (cross-compiled, NEON)
// The CUDA build is a separate package (README, "Packages and sizes"): most of its size is GPU code that a
// CPU host never runs, so it is not an optional dependency; GPU users add `@vggnet/linux-x64-cuda`.
// The optionalDependencies are written into the main package here, at pack time, not in the repository's
// package.json: until the packages are published, `npm ci` in the repository could not lock them.
//
// Usage: node scripts/platform-packages.js [--out DIR] [--x64 FILE] [--x64-cuda FILE] [--arm64 FILE]
// Output: DIR (default build-packages/) holds one folder and one tarball per package; a table of sizes is
// printed. A platform whose binary is missing is left out (said on stderr).
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const main = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? path.resolve(args[i + 1]) : path.join(root, dflt);
};
const out = arg('--out', 'build-packages');

/** The platform packages: name suffix, cpu, binary, what it is. */
const PLATFORMS = [
  {
    id: 'linux-x64',
    cpu: 'x64',
    file: arg('--x64', 'build-cpu/Release/vggnet.node'),
    what: 'CPU kernels (AVX2, AVX-512, scalar)',
    optional: true,
  },
  {
    id: 'linux-x64-cuda',
    cpu: 'x64',
    file: arg('--x64-cuda', 'build/Release/vggnet.node'),
    what: 'CPU kernels and the CUDA backend (sm_90 SASS + PTX, static cudart: glibc >= 2.34)',
    optional: false,
    cuda: true,
  },
  {
    id: 'linux-arm64',
    cpu: 'arm64',
    file: arg('--arm64', 'build-arm64/Release/vggnet.node'),
    what: 'CPU kernels (NEON, scalar)',
    optional: true,
  },
];

/** Whether a linux-x64 binary has the CUDA backend compiled in (asked of the binary itself). */
function cudaCompiled(file) {
  if (process.arch !== 'x64') return false;
  const js = `process.stdout.write(String(require(${JSON.stringify(file)}).backends().cuda.compiled))`;
  return execFileSync(process.execPath, ['-e', js]).toString() === 'true';
}

/** Strips symbols (as prebuildify --strip), with the binutils of the binary's architecture when present. */
function strip(file, cpu) {
  const tool = cpu === 'arm64' && process.arch !== 'arm64' ? 'aarch64-linux-gnu-strip' : 'strip';
  try {
    execFileSync(tool, ['--strip-unneeded', file]);
  } catch {
    console.error(`${path.basename(path.dirname(file))}: ${tool} not found, binary left unstripped`);
  }
}

function pack(dir) {
  const name = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', out], { cwd: dir })
    .toString()
    .trim()
    .split('\n')
    .pop();
  return path.join(out, name);
}

const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const made = [];
for (const p of PLATFORMS) {
  if (!fs.existsSync(p.file)) {
    console.error(`${p.id}: ${path.relative(root, p.file)} not built, left out`);
    continue;
  }
  if (p.cuda && !cudaCompiled(p.file)) {
    console.error(`${p.id}: ${path.relative(root, p.file)} has no CUDA backend (built without nvcc), left out`);
    continue;
  }
  const name = `@vggnet/${p.id}`;
  const dir = path.join(out, p.id);
  fs.mkdirSync(dir);
  fs.copyFileSync(p.file, path.join(dir, 'vggnet.node'));
  strip(path.join(dir, 'vggnet.node'), p.cpu);
  const pj = {
    name,
    version: main.version,
    description: `The ${p.id} binary of vggnet: ${p.what}. Installed by vggnet itself; not for direct use.`,
    license: main.license,
    repository: main.repository,
    os: ['linux'],
    cpu: [p.cpu],
    libc: ['glibc'],
    files: ['vggnet.node'],
    publishConfig: { access: 'public' },
  };
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(pj, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'README.md'), `# ${name}\n\n${pj.description}\nSee the vggnet package.\n`);
  made.push({ ...p, name, tgz: pack(dir), bytes: fs.statSync(path.join(dir, 'vggnet.node')).size });
}

// The main package: `npm pack` of the repository (its `files`), with the platform packages added as exact
// optional dependencies.
const mainTgz = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', out], { cwd: root })
  .toString()
  .trim()
  .split('\n')
  .pop();
const mainDir = path.join(out, 'vggnet');
fs.mkdirSync(mainDir);
execFileSync('tar', ['xzf', path.join(out, mainTgz), '-C', mainDir, '--strip-components=1']);
fs.rmSync(path.join(out, mainTgz));
const mpj = JSON.parse(fs.readFileSync(path.join(mainDir, 'package.json'), 'utf8'));
mpj.optionalDependencies = Object.fromEntries(made.filter((p) => p.optional).map((p) => [p.name, main.version]));
fs.writeFileSync(path.join(mainDir, 'package.json'), `${JSON.stringify(mpj, null, 2)}\n`);
const mainPacked = pack(mainDir);

console.log('| package | binary | packed (.tgz) |');
console.log('|---|---|---|');
for (const p of made) console.log(`| \`${p.name}\` | ${kib(p.bytes)} | ${kib(fs.statSync(p.tgz).size)} |`);
console.log(`| \`vggnet\` (TypeScript, sources, models, samples) | — | ${kib(fs.statSync(mainPacked).size)} |`);
console.log(
  `tarballs in ${path.relative(root, out) || '.'}: ${[...made.map((p) => path.basename(p.tgz)), path.basename(mainPacked)].join(', ')}`,
);
