#!/usr/bin/env node
// Reads paths under node_modules (one per line, relative to the package root: the files a recorded run opened)
// and prints every file of the packages they belong to and of those packages' dependencies, transitively
// (dependencies and optionalDependencies, resolved as Node does: the nearest node_modules upward), so that a
// code path the recorded run did not take (a worker process, an error message) still finds its modules.
// Used by bench/gpu-bundle.sh.
const fs = require('fs');
const path = require('path');

/** The package directory holding `file` (node_modules/x or node_modules/@s/x, possibly nested), or null. */
function packageOf(file) {
  const parts = file.split('/');
  let end = -1;
  for (let i = 0; i < parts.length - 1; i++)
    if (parts[i] === 'node_modules') end = parts[i + 1].startsWith('@') ? i + 2 : i + 1;
  return end < 0 ? null : parts.slice(0, end + 1).join('/');
}

/** Where `name` resolves from package directory `from`: the nearest node_modules/name upward. */
function resolvePackage(from, name) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === '.' || dir === path.dirname(dir)) return null;
  }
}

/** Every file under dir, without its nested node_modules (those are packages of their own). */
function filesOf(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') filesOf(p, out);
    } else out.push(p);
  }
}

const seen = new Set();
const queue = fs
  .readFileSync(0, 'utf8')
  .split('\n')
  .map((l) => packageOf(l.trim()))
  .filter((p) => p !== null && fs.existsSync(path.join(p, 'package.json')));
while (queue.length > 0) {
  const pkg = queue.pop();
  if (seen.has(pkg)) continue;
  seen.add(pkg);
  const json = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
  for (const name of Object.keys({ ...json.dependencies, ...json.optionalDependencies })) {
    const dep = resolvePackage(pkg, name);
    if (dep) queue.push(dep); // an optional dependency for another platform is absent: fine
  }
}
const files = [];
for (const pkg of [...seen].sort()) filesOf(pkg, files);
process.stdout.write(files.join('\n') + '\n');
