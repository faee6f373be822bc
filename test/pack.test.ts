// The user's path: a tarball from `npm pack`, installed with --ignore-scripts into an empty folder (no
// compiler, no build), loads its prebuilt binary and runs. CI runs `npm run build:prebuilds` first; the main
// package and its linux-x64 package come from scripts/platform-packages.js, as in a release.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { packageRoot } from '../lib/native';
import { testIf } from './support/skip';

const root = packageRoot();
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'vggnet.node');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

const missing = `${path.relative(root, prebuilt)} is missing; run \`npm run build:prebuilds\` (CI does)`;

testIf(fs.existsSync(prebuilt), missing)(
  'npm pack → install --ignore-scripts → the prebuilt binary loads and runs',
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-pack-'));
    try {
      // The release's packages (scripts/platform-packages.js): the main package and the linux-x64 one holding
      // the prebuilt binary; npm installs them with --ignore-scripts, as a user without a compiler would.
      const none = path.join(dir, 'none.node');
      execFileSync(process.execPath, [
        path.join(root, 'scripts', 'platform-packages.js'),
        ...['--out', path.join(dir, 'packages'), '--x64', prebuilt, '--x64-cuda', none, '--arm64', none],
      ]);
      const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
      const tgz = ['', '-linux-x64'].map((p) => path.join(dir, 'packages', `vggnet${p}-${version}.tgz`));
      const app = path.join(dir, 'app');
      fs.mkdirSync(app);
      fs.writeFileSync(
        path.join(app, 'package.json'),
        JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
      );
      npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', '--silent', ...tgz], app);
      expect(fs.existsSync(path.join(app, 'node_modules', 'vggnet', 'build'))).toBe(false);
      const script = `
      const v = require('vggnet');
      const r = v.backends();
      const m = v.Model.randomSync({ name: 't', inChannels: 1, inputSize: 8, stages: [[4]], fc: [8], numClasses: 3 }, 1, { device: 'cpu' });
      const y = m.forwardSync(new v.Tensor([1, 1, 8, 8], new Float32Array(64).fill(1)));
      const labels = v.defaultLabels(1000);
      console.log(JSON.stringify({ binary: r.binary, cpu: r.cpu.kernelFamily, dims: y.dims, finite: y.data.every(Number.isFinite), label0: labels[0] }));`;
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: app }).toString());
      expect(out.binary).toBe(path.join(fs.realpathSync(app), 'node_modules', '@vggnet', 'linux-x64', 'vggnet.node'));
      expect(out.dims).toEqual([1, 3]);
      expect(out.finite).toBe(true);
      expect(out.label0).toMatch(/^tench/); // data/ ships in the tarball
      const cli = execFileSync(path.join(app, 'node_modules', '.bin', 'vggnet'), ['summary', 'vgg16'], {
        cwd: app,
      }).toString();
      expect(cli).toContain('138,357,544');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
