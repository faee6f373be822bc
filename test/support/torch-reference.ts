/**
 * The torchvision reference written by scripts/reference/vgg_torch.py (through the Keras and Caffe fixture
 * scripts): the state_dict tensors (ref.json + ref.bin), a seeded input and torchvision's logits for it.
 * What our readers must reproduce: every layer equal to torchvision's tensor (OIHW; FC6's [out, C·H·W] in
 * C,H,W order is OIHW (out, C, H, W)), and our forward equal to torchvision's.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { LayerWeights, Model, Tensor, VggConfig, weightShapes } from '../../lib';
import { featureIndices } from '../../lib/weights/detect';
import { pythonMissing } from './python';

export interface TorchReference {
  tensors: Map<string, Float32Array>;
  input: Tensor;
  logits: Float32Array;
}

export function readReference(dir: string): TorchReference {
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'ref.json'), 'utf8')) as {
    tensors: { name: string; shape: number[]; offset: number }[];
    input: number[];
  };
  const bin = fs.readFileSync(path.join(dir, 'ref.bin'));
  const f32 = (buf: Buffer, offset = 0, n = (buf.length - offset) / 4) =>
    new Float32Array(buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + n * 4));
  const tensors = new Map(
    index.tensors.map(
      (t) =>
        [
          t.name,
          f32(
            bin,
            t.offset,
            t.shape.reduce((a, b) => a * b, 1),
          ),
        ] as const,
    ),
  );
  const [N, C, H, W] = index.input;
  return {
    tensors,
    input: new Tensor([N, C, H, W], f32(fs.readFileSync(path.join(dir, 'input.bin')))),
    logits: f32(fs.readFileSync(path.join(dir, 'logits.bin'))),
  };
}

/** torchvision's tensors in our program order: features.{i} convs, then classifier.{0,3,6,…} Linears. */
export function referenceLayers(ref: TorchReference, config: VggConfig): LayerWeights[] {
  const convs = featureIndices(config, false).map((i) => `features.${i}`);
  const fcs = [...config.fc, config.numClasses].map((_, j) => `classifier.${3 * j}`);
  return [...convs, ...fcs].map((m) => ({
    weight: ref.tensors.get(`${m}.weight`)!,
    bias: ref.tensors.get(`${m}.bias`)!,
  }));
}

/** Index and value of the first difference of two arrays, or null when equal (exactly). */
export function firstDifference(a: Float32Array, b: Float32Array): string | null {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `[${i}] ${a[i]} vs ${b[i]}`;
  return null;
}

/** Every loaded layer against the reference: [] when all equal, else one line per differing tensor. */
export function compareLayers(got: LayerWeights[], ref: TorchReference, config: VggConfig): string[] {
  const want = referenceLayers(ref, config);
  const names = weightShapes(config).map((s) => s.name);
  return want.flatMap((w, i) =>
    (['weight', 'bias'] as const).flatMap((k) => {
      const d = firstDifference(got[i][k], w[k]);
      return d ? [`${names[i]}.${k}: ${d}`] : [];
    }),
  );
}

/** Our logits for the reference input (one forward, the training size: FC head as in torchvision). */
export async function ourLogits(config: VggConfig, weights: LayerWeights[], input: Tensor): Promise<Float32Array> {
  const model = await Model.create(config, weights, { device: 'cpu' });
  try {
    return (await model.forward(input, { mode: 'fc' })).data;
  } finally {
    model.dispose();
  }
}

/** A VGG16-layout network at 1/8 of the widths: five stages (2, 2, 3, 3, 3 convs), 224 input, so pool5 is
 *  7×7 and FC6 has the paper's 7·7·C fan-in (the H,W,C vs C,H,W order of FC6 matters), fast to run. */
export const mini16: VggConfig = {
  name: 'mini16',
  inChannels: 3,
  inputSize: 224,
  stages: [
    [8, 8],
    [16, 16],
    [32, 32, 32],
    [64, 64, 64],
    [64, 64, 64],
  ],
  fc: [128, 128],
  numClasses: 10,
};

/** null when the Caffe fixture script can run (protoc and the Python modules), else why not. */
export function protocMissing(): string | null {
  const r = spawnSync('protoc', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'protoc not found (Debian package protobuf-compiler, .ci/deps)';
}

export const REFERENCE_MODULES = ['torch', 'torchvision', 'numpy'];
export { pythonMissing };
