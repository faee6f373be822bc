/**
 * Weights files → LayerWeights[] in layer-program order (topology.weightShapes: conv1_1 … fc8), f32, OIHW.
 *
 * The format is read off the file's first bytes (sniff.ts), never its extension: safetensors with torchvision,
 * timm or vggnet names (safetensors.ts, torchvision.ts, timm.ts, vggnet.ts), ONNX graphs (onnx.ts), PyTorch
 * .pth in both serializations through a restricted unpickler (pth.ts), Keras .h5 (keras-h5.ts) and Caffe
 * .caffemodel (caffe.ts).
 */
import * as fs from 'fs';
import { InvalidArgumentError } from '../errors';
import type { LayerWeights } from '../random-weights';
import type { IndexedLayer, WeightsItem, WeightsTaskArgs } from '../worker/tasks';
import { workerStream } from '../worker/client';
import { openSafetensorsWeights } from './load-safetensors';
import { openOnnxWeights } from './onnx';
import { openPthWeights } from './pth';
import { openKerasWeights } from './keras-h5';
import { openCaffeWeights } from './caffe';
import { sniffFile } from './sniff';
import { LoadedWeights, LoadWeightsOptions, readLoadWeightsOptions, resolveGivenArch, WeightsReader } from './types';

export { LoadedWeights, LoadWeightsOptions, WeightsReader } from './types';
export {
  SafetensorsFile,
  SafetensorsHeader,
  SafetensorsEntry,
  TensorToWrite,
  FloatDtype,
  readSafetensorsHeader,
  writeSafetensors,
  parseSafetensorsHeader,
  f16ToF32,
  bf16ToF32,
  f32ToF16,
  f32ToBf16,
  MAX_HEADER_BYTES,
} from './safetensors';
export { saveWeights, SaveWeightsOptions, META_CONFIG, META_LABELS, META_PREPROCESS } from './vggnet';
export { BN_EPS, foldBatchNorm, BatchNormParams } from './batchnorm';
export { fc6FromKerasLayout, transposeMatrix } from './keras';
export { importOnnx } from './onnx';
export { NamingScheme, DetectedArch } from './detect';
export { detectScheme, detectArch } from './named-tensors';

/**
 * Loads VGG weights from a file, detecting the architecture unless options.arch gives it. The format is read off
 * the first bytes (sniff.ts), never the extension: safetensors (torchvision, timm or vggnet names), ONNX, PyTorch
 * .pth/.pt in both serializations (e.g. torchvision's vgg16-397923af.pth as downloaded), Keras .h5, Caffe
 * .caffemodel. A .pth may hold model.state_dict() or a checkpoint dict holding it ('state_dict',
 * 'model_state_dict', 'model', …); 'module.' prefixes of nn.DataParallel are dropped; its pickle is read as
 * torch.load(weights_only=True) reads it, and nothing in it ever runs.
 * The file is read and parsed (ONNX protobuf decoding, pickles, f16/bf16 widening, batch norm folding) on a
 * worker thread, each tensor by its offset in the file; the arrays come back without a copy. The event loop
 * stays free meanwhile.
 * @returns weights in layer-program order, ready for Model.create(result.config, result.weights)
 * @throws FormatError (ERR_VGG_FORMAT): malformed/truncated file (a .pth's missing storage or record named),
 *   missing/unexpected tensors or wrong shapes (each named), architecture not matching options.arch, a .pth
 *   holding no state dict; UnsupportedError (ERR_VGG_UNSUPPORTED): a dtype we cannot use (F64, integers; the
 *   tensor named), an ONNX node we cannot map (named), a pickle global torch.load(weights_only=True) refuses
 *   (named: os.system, a model's class from torch.save(model), …), a TorchScript archive, a Keras or Caffe net
 *   that is no VGG classifier (a layer VGG has not, named; an include_top=False .h5), a Keras 3 .weights.h5
 *   without options.arch; InvalidArgumentError: unknown options.arch, an unknown option key
 */
export async function loadWeights(file: string, opts: LoadWeightsOptions | null = {}): Promise<LoadedWeights> {
  const stream = streamWeights(file, opts);
  const meta = await stream.meta;
  const weights: LayerWeights[] = [];
  for await (const l of stream.layers) weights[l.index] = { weight: l.weight, bias: l.bias };
  return { ...meta, weights };
}

/** A weights file streamed from the worker thread: its description first, then its layers in `order`. */
export interface WeightsStream {
  meta: Promise<Omit<LoadedWeights, 'weights'>>;
  layers: AsyncIterableIterator<IndexedLayer>;
}

/**
 * loadWeights as a stream (loadClassifier packs each layer as it arrives, so at most two raw layers, or bands,
 * are in memory at once): the file is opened and checked on a worker thread, then layer after layer is read
 * there and handed over (transferred, not copied). `order` 'largest' sends the largest layers first. `bands`:
 * layers above tasks.ts BAND_FLOATS come as bands of output channels (IndexedLayer.from), read from the file
 * band by band where the reader can, so FC6's 411 MB never sit in memory whole. Errors as loadWeights.
 */
export function streamWeights(
  file: string,
  opts: LoadWeightsOptions | null = {},
  order: 'program' | 'largest' = 'program',
  bands = false,
): WeightsStream {
  if (typeof file !== 'string' || !file)
    throw new InvalidArgumentError(`file: expected a path, got ${JSON.stringify(file)}`);
  const options = readLoadWeightsOptions(opts);
  const given = resolveGivenArch(options.arch); // checked here, so the worker gets plain data
  const args: WeightsTaskArgs = {
    file,
    arch: typeof options.arch === 'string' ? options.arch : given?.config,
    order,
    bands,
  };
  const it = workerStream<WeightsItem>('weights', args);
  const meta = it.next().then((r) => {
    if (r.done || r.value.kind !== 'meta') throw new Error('weights worker: expected the file description first');
    return r.value.meta;
  });
  const layers: AsyncIterableIterator<IndexedLayer> = {
    async next() {
      await meta;
      for (;;) {
        const r = await it.next();
        if (r.done) return { done: true, value: undefined };
        if (r.value.kind === 'layer') return { done: false, value: r.value.layer };
      }
    },
    async return() {
      await it.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => layers,
  };
  meta.catch(() => it.return?.()); // a consumer that never iterates still frees the worker's job
  return { meta, layers };
}

/**
 * Opens a weights file on the calling thread: format by extension or first bytes, architecture detected and
 * every tensor checked; layers read on demand. Errors as loadWeights.
 */
export async function openWeights(file: string, opts: LoadWeightsOptions | null = {}): Promise<WeightsReader> {
  if (typeof file !== 'string' || !file)
    throw new InvalidArgumentError(`file: expected a path, got ${JSON.stringify(file)}`);
  const options = readLoadWeightsOptions(opts);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch (e) {
    throw new InvalidArgumentError(
      `file: cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  if (!stat.isFile()) throw new InvalidArgumentError(`file: '${file}' is not a regular file`);
  switch (await sniffFile(file)) {
    case 'safetensors':
      return openSafetensorsWeights(file, options);
    case 'onnx':
      return openOnnxWeights(file, options);
    case 'pytorch-zip':
    case 'pytorch-legacy':
      return openPthWeights(file, options);
    case 'hdf5':
      return openKerasWeights(file, options);
    case 'caffe':
      return openCaffeWeights(file, options);
  }
}
