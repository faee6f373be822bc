/**
 * Valid seed files to mutate: the small test config as safetensors (saveWeights) and as ONNX (torchvision
 * style), made here; committed real files for the rest (test/fixtures): .pth (pth/: a BN VGG in both
 * serializations, torch.save), Keras .h5 (keras/small.h5, h5py) and Caffe .caffemodel (caffe/small.caffemodel,
 * protobuf's serializer), the last two written from the `small` config (test/support/configs.ts), seed 7:
 *   /usr/bin/python3 scripts/keras/make-h5.py DIR '<small as JSON>' --seed 7 --layouts save          → save.h5
 *   /usr/bin/python3 scripts/caffe/make-caffemodel.py DIR '<small as JSON>' --seed 7 --variants v1   → v1.caffemodel
 * keras/small.data.json lists where the .h5's dataset values are ([offset, bytes], h5py's get_offset and
 * get_storage_size), so that mutations aim at the rest.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { randomWeights, saveWeights } from '../lib';
import { packageRoot } from '../lib/native';
import { buildOnnxBytes } from '../test/support/onnx-graph';
import { small } from '../test/support/configs';
import type { Format } from './mutate';

export const EXTENSION: Record<Format, string> = {
  safetensors: '.safetensors',
  onnx: '.onnx',
  'pth-zip': '.pth',
  'pth-legacy': '.pth',
  keras: '.h5',
  caffe: '.caffemodel',
};

const fixture = (...name: string[]) => fs.readFileSync(path.join(packageRoot(), 'test', 'fixtures', ...name));

/** [offset, bytes] of the dataset values in the Keras seed. */
export function kerasSeedData(): [number, number][] {
  return (JSON.parse(fixture('keras', 'small.data.json').toString('utf8')) as { data: [number, number][] }).data;
}

export function seedFile(format: Format): Uint8Array {
  if (format === 'pth-zip' || format === 'pth-legacy')
    return new Uint8Array(fixture('pth', format === 'pth-zip' ? 'tiny_bn-zip.pth' : 'tiny_bn-legacy.pth'));
  if (format === 'keras') return new Uint8Array(fixture('keras', 'small.h5'));
  if (format === 'caffe') return new Uint8Array(fixture('caffe', 'small.caffemodel'));
  const w = randomWeights(small, 1);
  if (format === 'onnx') return buildOnnxBytes(small, w, { style: 'fc' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-seed-'));
  const file = path.join(dir, 'seed.safetensors');
  saveWeights(file, small, w, { labels: ['a', 'b', 'c', 'd', 'e'] });
  const bytes = new Uint8Array(fs.readFileSync(file));
  fs.rmSync(dir, { recursive: true });
  return bytes;
}
