// The `vggnet` command line, run as a user runs it (node dist/cli.js, built by `npm run build`).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { packageRoot } from '../lib/native';
import { corruptJpeg } from './support/damaged-jpeg';

const root = packageRoot();
const cli = path.join(root, 'dist', 'cli.js');
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

beforeAll(() => {
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\``);
});

test('classify with the embedded model: a digit and a 56×56 canvas (dense evaluation)', () => {
  const r = run('classify', 'samples/digit-7-1401.png', 'samples/canvas-0.png', '--top', '2');
  expect(r.code).toBe(0);
  const lines = r.out.trim().split('\n');
  expect(lines[0]).toMatch(/^samples\/digit-7-1401\.png: 7 \d+\.\d%, \d \d+\.\d%$/);
  expect(lines[1]).toMatch(/^samples\/canvas-0\.png: 0 /); // a 0 (held-out index 6) at (2, 28), see the model card
});

test('--json gives machine-readable results; --mode fc --flip --scales are honoured', () => {
  const r = run('classify', 'samples/digit-3-623.png', '--json', '--mode', 'fc', '--flip', '--scales', '28');
  expect(r.code).toBe(0);
  const j = JSON.parse(r.out);
  expect(j).toMatchObject({ arch: 'mnist-vgg', mode: 'fc', scales: [28], flip: true });
  expect(j.results[0].views).toBe(2);
  expect(j.results[0].top[0]).toMatchObject({ index: 3, label: '3' });
});

test('a bad image among good ones: exit 1, a one-line message naming the file, the others still classified', () => {
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-cli-')), 'broken.png');
  fs.writeFileSync(bad, 'not a png');
  const r = run('classify', bad, 'samples/digit-1-200.png', '--top', '1');
  expect(r.code).toBe(1);
  expect(r.err.trim().split('\n')).toHaveLength(1);
  expect(r.err).toContain('broken.png');
  expect(r.err).toContain('ERR_VGG_FORMAT');
  expect(r.out).toMatch(/digit-1-200\.png: 1 /);
  fs.rmSync(path.dirname(bad), { recursive: true, force: true });
});

test('a damaged JPEG is refused (ERR_VGG_FORMAT) unless --fail-on none; an unsupported URL scheme says so', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-cli-'));
  const bad = path.join(dir, 'damaged.jpg');
  fs.writeFileSync(bad, corruptJpeg(fs.readFileSync(path.join(root, 'test', 'fixtures', 'photos', 'rocket.jpg'))));
  const refused = run('classify', bad, '--scales', '40');
  expect(refused.code).toBe(1);
  expect(refused.err).toMatch(/ERR_VGG_FORMAT: .*damaged image data/);
  expect(run('classify', bad, '--scales', '40', '--fail-on', 'none').code).toBe(0);
  expect(run('classify', bad, '--fail-on', 'sometimes').code).not.toBe(0);
  const ftp = run('classify', 'ftp://example.invalid/a.png');
  expect(ftp.code).toBe(1);
  expect(ftp.err).toMatch(/ERR_VGG_UNSUPPORTED: image: unsupported: ftp: URL/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('errors exit non-zero with one line: missing weights, unknown arch, bad option values', () => {
  const missing = run('classify', 'samples/digit-1-200.png', '--weights', 'no-such.safetensors');
  expect(missing.code).toBe(1);
  expect(missing.err.trim().split('\n')).toHaveLength(1);
  expect(missing.err).toContain('no-such.safetensors');
  const arch = run('summary', 'vgg17');
  expect(arch.code).toBe(1);
  expect(arch.err).toMatch(/^vggnet: ERR_VGG_INVALID_ARGUMENT: arch: expected one of/);
  expect(run('classify', 'samples/digit-1-200.png', '--scales', 'abc').code).not.toBe(0);
  expect(run('classify', 'samples/digit-1-200.png', '--mode', 'foo').code).not.toBe(0);
  const former = run('classify', 'samples/digit-1-200.png', '--mode', 'fully-conv');
  expect(former.code).not.toBe(0);
  expect(former.err.trim().split('\n')).toHaveLength(1);
  expect(former.err).toMatch(
    /^vggnet: ERR_VGG_INVALID_ARGUMENT: --mode: expected 'fc' \| 'dense' \| 'torchvision', got 'fully-conv' \('fully-conv' is now 'dense'/,
  );
  expect(run('classify', 'samples/digit-1-200.png', '--conv-algorithm', 'fft').code).not.toBe(0);
  const device = run('classify', 'samples/digit-1-200.png', '--device', 'gpu');
  expect(device.code).toBe(1);
  expect(device.err).toMatch(/^vggnet: ERR_VGG_INVALID_ARGUMENT: options\.device: expected 'auto' \| 'cpu'/);
  expect(run('bogus').code).not.toBe(0);
});

test('--conv-algorithm accepts each CPU algorithm (the embedded model has no layer Winograd applies to: same class)', () => {
  for (const algo of ['gemm', 'winograd2x2', 'winograd4x4', 'auto']) {
    const r = run('classify', 'samples/digit-7-1401.png', '--json', '--conv-algorithm', algo, '--top', '1');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).results[0].top[0]).toMatchObject({ index: 7 });
  }
});

test('--precision: bf16 on the CPU where AVX512_BF16 is, else a one-line UnsupportedError; fp16 on the CPU refused', () => {
  const info = JSON.parse(run('info', '--json').out);
  const r = run(
    'classify',
    'samples/digit-7-1401.png',
    '--json',
    '--precision',
    'bf16',
    '--device',
    'cpu',
    '--top',
    '1',
  );
  if (info.cpu.precisions.includes('bf16')) {
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).results[0].top[0]).toMatchObject({ index: 7 });
  } else {
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/AVX512_BF16/);
  }
  const f = run('classify', 'samples/digit-7-1401.png', '--precision', 'fp16', '--device', 'cpu');
  expect(f.code).not.toBe(0);
  expect(f.err).toMatch(/'fp16' has no CPU kernels/);
  expect(run('classify', 'samples/digit-7-1401.png', '--precision', 'fp8').code).not.toBe(0);
});

test('summary --json and info --json', () => {
  const s = JSON.parse(run('summary', 'E', '--json').out);
  expect(s.totalParams).toBe(143_667_240);
  const i = JSON.parse(run('info', '--json').out);
  expect(i.cpu.kernelFamily).toBeDefined();
  expect(typeof i.cuda.compiled).toBe('boolean');
});

// Labels come from the weights file: printed raw they could drive the terminal (issue 11).
test('labels from a weights file cannot inject terminal escapes or fake lines', () => {
  const src = fs.readFileSync(path.join(root, 'models', 'mnist-vgg.safetensors'));
  const n = Number(src.readBigUInt64LE(0));
  const header = JSON.parse(src.subarray(8, 8 + n).toString('utf8'));
  const hostile = [
    '\x1b[2J\x1b[Hzero',
    'one\r\nsamples/x.png: 9 100.0%',
    'two\x9b31m',
    'three\u202eevil',
    '4',
    '5',
    '6',
    '7',
    '8',
    '9',
  ];
  header.__metadata__['vggnet.labels'] = JSON.stringify(hostile);
  const h = new TextEncoder().encode(JSON.stringify(header));
  const bytes = new Uint8Array(8 + h.length + src.length - 8 - n);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(h.length), true);
  bytes.set(h, 8);
  bytes.set(src.subarray(8 + n), 8 + h.length);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-cli-')), 'hostile-labels.safetensors');
  fs.writeFileSync(file, bytes);

  const text = run('classify', 'samples/digit-7-1401.png', '--weights', file, '--top', '10');
  expect(text.code).toBe(0);
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  expect(text.out).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/); // only the line feeds
  expect(text.out.trim().split('\n')).toHaveLength(1);
  expect(text.out).toContain('\\x1b[2J\\x1b[Hzero');
  expect(text.out).toContain('one\\x0d\\x0asamples/x.png');
  expect(text.out).toContain('three\\u202eevil');

  const json = run('classify', 'samples/digit-7-1401.png', '--weights', file, '--top', '10', '--json');
  expect(json.code).toBe(0);
  expect(json.out).not.toMatch(/[\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
  const labels = JSON.parse(json.out).results[0].top.map((p: { label: string }) => p.label);
  expect(labels.sort()).toEqual([...hostile].sort()); // the same values once parsed
});
