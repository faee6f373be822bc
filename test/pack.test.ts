// The user's path: a tarball from `npm pack`, installed with --ignore-scripts into an empty folder (no
// compiler, no build), loads its prebuilt binary and runs. CI runs `npm run build:prebuilds` first.
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
      const tgz = npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], root)
        .trim()
        .split('\n')
        .pop()!;
      const app = path.join(dir, 'app');
      fs.mkdirSync(app);
      fs.writeFileSync(
        path.join(app, 'package.json'),
        JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
      );
      npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', '--silent', path.join(dir, tgz)], app);
      expect(fs.existsSync(path.join(app, 'node_modules', 'vggnet', 'build'))).toBe(false);
      const script = `
      const v = require('vggnet');
      const r = v.backends();
      const m = v.Model.randomSync({ name: 't', inChannels: 1, inputSize: 8, stages: [[4]], fc: [8], numClasses: 3 }, 1, { device: 'cpu' });
      const y = m.forwardSync(new v.Tensor([1, 1, 8, 8], new Float32Array(64).fill(1)));
      const labels = v.defaultLabels(1000);
      console.log(JSON.stringify({ binary: r.binary, cpu: r.cpu.kernelFamily, dims: y.dims, finite: y.data.every(Number.isFinite), label0: labels[0] }));`;
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: app }).toString());
      expect(out.binary).toBe(
        path.join(
          fs.realpathSync(app),
          'node_modules',
          'vggnet',
          'prebuilds',
          `${process.platform}-${process.arch}`,
          'vggnet.node',
        ),
      );
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
