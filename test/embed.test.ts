// Features of images: embedImage and `vggnet embed` (JSON lines and --out safetensors) with the embedded model.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Classifier, embedImage, InvalidArgumentError, loadClassifier, loadImage } from '../lib';
import { packageRoot } from '../lib/native';
import { SafetensorsFile } from '../lib/weights';

const root = packageRoot();
const cli = path.join(root, 'dist', 'cli.js');
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const digits = ['samples/digit-0-0.png', 'samples/digit-7-1401.png'];

let c: Classifier;
let dir: string;
beforeAll(async () => {
  c = await loadClassifier(undefined, { threads: 1 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-embed-'));
});
afterAll(() => {
  c.model.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('embedImage gives what a forward with outputs gives on the same preprocessed image', async () => {
  const file = path.join(root, digits[1]);
  const f = await embedImage(c, file, { outputs: ['pool2', 'fc8'], mode: 'torchvision', scale: 0 });
  const x = await loadImage(file, c.preprocess);
  const g = await c.model.forward(x, { mode: 'torchvision', outputs: ['pool2', 'fc8'] });
  expect(f.pool2.dims).toEqual([1, 16, 7, 7]);
  expect(f.pool2.data).toEqual(g.pool2.data);
  expect(f.fc8.data).toEqual(g.fc8.data);
  expect(Array.from(f.fc8.data).indexOf(Math.max(...f.fc8.data))).toBe(7); // the digit's class
  await expect(embedImage(c, file, { outputs: undefined as unknown as string[] })).rejects.toThrow(
    InvalidArgumentError,
  );
});

test("vggnet embed: JSON lines by default, one per image, the features named; mode 'fc' crops as classify does", async () => {
  const fc = run('embed', '--layers', 'fc8', digits[1]);
  expect(fc.code).toBe(0);
  const want = await embedImage(c, path.join(root, digits[1]), { outputs: ['fc8'] });
  expect(Float32Array.from(JSON.parse(fc.out).fc8.data)).toEqual(want.fc8.data);
  const r = run('embed', '--layers', 'fc7,fc8', '--mode', 'torchvision', '--scale', '0', ...digits);
  expect(r.code).toBe(0);
  const lines = r.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(lines.map((l) => l.file)).toEqual(digits);
  expect(lines[0].fc7.dims).toEqual([1, 128]);
  expect(lines[1].fc8.data).toHaveLength(10);
});

test('vggnet embed --out: one safetensors file, images stacked per layer, files in the metadata', async () => {
  const out = path.join(dir, 'features.safetensors');
  const r = run('embed', '--layers', 'pool2,fc7', '--mode', 'torchvision', '--scale', '0', '--out', out, ...digits);
  expect(r.code).toBe(0);
  const f = await SafetensorsFile.open(out);
  try {
    expect(f.names().sort()).toEqual(['fc7', 'pool2']);
    expect(f.entry('pool2').shape).toEqual([2, 16, 7, 7]);
    const want = await embedImage(c, path.join(root, digits[1]), { outputs: ['fc7'], mode: 'torchvision', scale: 0 });
    expect((await f.readF32('fc7')).subarray(128)).toEqual(want.fc7.data);
    expect(JSON.parse(f.header.metadata['vggnet.embed']).files).toEqual(digits);
  } finally {
    await f.close();
  }
});

test('vggnet embed: an unknown layer is refused before any image is read, naming the layers', () => {
  const r = run('embed', '--layers', 'pool2,conv9_9', 'no-such-image.png');
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/ERR_VGG_INVALID_ARGUMENT: --layers: 'conv9_9' is not a layer of mnist-vgg: conv1_1, .*fc8/);
});
