/**
 * `vggnet embed`: features of images written as JSON lines (stdout) or one safetensors file (--out).
 */
import { SingleBar } from 'cli-progress';

import { embedImage } from './embed';
import { InvalidArgumentError, VggError } from './errors';
import { loadFromFlags } from './cli-classifier';
import type { Features } from './model';
import { ConvAlgorithm, parseMode, Precision } from './options';
import { printable, terminalJson } from './terminal';
import { Tensor } from './tensor';
import { layerProgram } from './topology';
import { TensorToWrite, writeSafetensors } from './weights';

export interface EmbedFlags {
  layers: string;
  weights?: string;
  arch?: string;
  mode: string;
  scale?: number;
  out?: string;
  device: string;
  threads?: number;
  convAlgorithm: ConvAlgorithm;
  precision?: Precision;
  preprocess?: 'torchvision' | 'caffe';
}

/**
 * Runs the command; returns the exit code (1 when an image failed: its error is printed, the rest go on).
 * With --out, tensors are named `<layer>` [images, …] when every image gave the same dims (mode 'fc'), else
 * `<layer>.<i>` per image; the metadata "vggnet.embed" lists the files, layers, mode and scale.
 */
export async function embedCommand(images: string[], o: EmbedFlags): Promise<number> {
  const mode = parseMode(o.mode, '--mode');
  const layers = o.layers
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (layers.length === 0) throw new InvalidArgumentError(`--layers: expected layer names, e.g. pool5,fc7`);
  const c = await loadFromFlags({ ...o, seed: 1 });
  const names = layerProgram(c.model.config).map((s) => s.name);
  const unknown = layers.find((l) => !names.includes(l));
  if (unknown !== undefined) {
    c.model.dispose();
    throw new InvalidArgumentError(
      `--layers: '${unknown}' is not a layer of ${c.model.config.name}: ${names.join(', ')}`,
    );
  }
  const bar =
    o.out && process.stderr.isTTY && images.length > 1
      ? new SingleBar({ format: 'embedding [{bar}] {value}/{total} images', clearOnComplete: true })
      : null;
  bar?.start(images.length, 0);
  const done: { file: string; features: Features }[] = [];
  let failed = 0;
  try {
    for (const file of images) {
      try {
        const features = await embedImage(c, file, { outputs: layers, mode, scale: o.scale });
        if (o.out) done.push({ file, features });
        else console.log(terminalJson({ file, ...jsonFeatures(features) }, 0)); // one line per image
      } catch (e) {
        if (!(e instanceof VggError) || e.code === 'ERR_VGG_INVALID_ARGUMENT') throw e; // bad flags: stop
        failed++;
        process.stderr.write(`vggnet: ${printable(file)}: ${e.code}: ${printable(e.message.split('\n').join(' '))}\n`);
      }
      bar?.increment();
    }
  } finally {
    bar?.stop();
    c.model.dispose();
  }
  if (o.out && done.length > 0) {
    writeSafetensors(o.out, stackFeatures(done, layers), {
      'vggnet.embed': JSON.stringify({ files: done.map((d) => d.file), layers, mode, scale: o.scale ?? null }),
    });
    console.log(`${printable(o.out)}: ${done.length} images × ${layers.join(', ')}`);
  }
  return failed ? 1 : 0;
}

function jsonFeatures(f: Features): Record<string, { dims: number[]; data: number[] }> {
  const out: Record<string, { dims: number[]; data: number[] }> = {};
  for (const [name, t] of Object.entries(f)) out[name] = { dims: [...t.dims], data: Array.from(t.data) };
  return out;
}

/** `<layer>` [images, …] when every image's dims agree, else `<layer>.<i>` per image. */
function stackFeatures(done: { features: Features }[], layers: string[]): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const layer of layers) {
    const ts: Tensor[] = done.map((d) => d.features[layer]);
    const same = ts.every((t) => t.dims.join() === ts[0].dims.join());
    if (same && ts.length > 0) {
      const data = new Float32Array(ts.reduce((a, t) => a + t.data.length, 0));
      ts.forEach((t, i) => data.set(t.data, i * t.data.length));
      out[layer] = { dtype: 'F32', shape: [ts.length, ...ts[0].dims.slice(1)], data };
    } else ts.forEach((t, i) => (out[`${layer}.${i}`] = { dtype: 'F32', shape: [...t.dims], data: t.data }));
  }
  return out;
}
