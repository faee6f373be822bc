/** Valid seed files to mutate: the small test config as safetensors (saveWeights) and as ONNX (torchvision style). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { randomWeights, saveWeights } from '../lib';
import { buildOnnxBytes } from '../test/support/onnx-graph';
import { small } from '../test/support/configs';
import type { Format } from './mutate';

export const EXTENSION: Record<Format, string> = { safetensors: '.safetensors', onnx: '.onnx' };

export function seedFile(format: Format): Uint8Array {
  const w = randomWeights(small, 1);
  if (format === 'onnx') return buildOnnxBytes(small, w, { style: 'fc' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-seed-'));
  const file = path.join(dir, 'seed.safetensors');
  saveWeights(file, small, w, { labels: ['a', 'b', 'c', 'd', 'e'] });
  const bytes = new Uint8Array(fs.readFileSync(file));
  fs.rmSync(dir, { recursive: true });
  return bytes;
}
