/** Valid seed files to mutate: the small test config as safetensors (saveWeights) and as ONNX (torchvision style);
 *  for .pth, the committed real torch.save files (test/fixtures/pth: a BN VGG in both serializations). */
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
};

export function seedFile(format: Format): Uint8Array {
  if (format === 'pth-zip' || format === 'pth-legacy') {
    const name = format === 'pth-zip' ? 'tiny_bn-zip.pth' : 'tiny_bn-legacy.pth';
    return new Uint8Array(fs.readFileSync(path.join(packageRoot(), 'test', 'fixtures', 'pth', name)));
  }
  const w = randomWeights(small, 1);
  if (format === 'onnx') return buildOnnxBytes(small, w, { style: 'fc' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-seed-'));
  const file = path.join(dir, 'seed.safetensors');
  saveWeights(file, small, w, { labels: ['a', 'b', 'c', 'd', 'e'] });
  const bytes = new Uint8Array(fs.readFileSync(file));
  fs.rmSync(dir, { recursive: true });
  return bytes;
}
