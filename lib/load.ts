/**
 * Loading a ready-to-use classifier: weights file → Model, with its labels and preprocessing.
 * Default weights: the embedded MNIST model (models/mnist-vgg.safetensors, see its model card).
 */
import * as path from 'path';

import { describeValue } from './describe';
import { InvalidArgumentError } from './errors';
import { Classifier } from './evaluate';
import { checkLabels, defaultLabels } from './labels';
import { Model, ModelOptions } from './model';
import { packageRoot } from './native';
import { MODEL_OPTION_FIELDS, optionKeys, pickModelOptions, readOptions, resolveModelOptions } from './options';
import { checkSpec, PRESETS, PreprocessSpec } from './preprocess';
import { VggConfig } from './topology';
import { streamWeights } from './weights';

export interface LoadOptions extends ModelOptions {
  /** Architecture, when detection from names and shapes is not enough (vgg11_lrn) or to check it. */
  arch?: string | VggConfig;
  /** 'torchvision' | 'caffe' | a spec. Default: the file's own (Keras and Caffe files: 'caffe'), else
   *  torchvision (what torchvision, timm and the ONNX model zoo's VGG weights expect). */
  preprocess?: 'torchvision' | 'caffe' | PreprocessSpec;
  /** Class names; default: the file's own, else ImageNet-1k for 1000 classes, else indices. */
  labels?: string[];
}

/** Path of the embedded default model. */
export function defaultWeightsPath(): string {
  return path.join(packageRoot(), 'models', 'mnist-vgg.safetensors');
}

const LOAD_OPTION_KEYS = optionKeys<LoadOptions>({
  ...MODEL_OPTION_FIELDS,
  arch: true,
  preprocess: true,
  labels: true,
});

/**
 * Loads weights (safetensors, ONNX, PyTorch .pth, Keras .h5, Caffe .caffemodel: the format read off the first
 * bytes) into a Model on the chosen device. The options are checked before
 * the file is read. Nothing blocks the event loop: the file is read and parsed on a worker thread and each
 * layer packed on the libuv pool as it arrives, largest first, then freed (at most two raw layers in memory;
 * FC6 and FC7 come in bands of 16 MB read from the file, so peak memory stays near the packed weights': vgg16
 * 1.15–1.20× of them, bench/load-memory.js).
 * @throws FormatError / UnsupportedError from the reader, InvalidArgumentError for an unknown option key,
 *   a bad model option (see Model.create) or options inconsistent with the file
 */
export async function loadClassifier(
  file: string = defaultWeightsPath(),
  opts: LoadOptions | null = {},
): Promise<Classifier> {
  const options = readOptions(opts, LOAD_OPTION_KEYS);
  const modelOptions = pickModelOptions(options);
  resolveModelOptions(modelOptions); // fail fast, before reading a large file
  // Streamed: each layer (FC6 and FC7: each band) is read on the loader thread, handed over and packed,
  // largest first, then freed.
  const stream = streamWeights(file, { arch: options.arch }, 'largest', true);
  try {
    const loaded = await stream.meta;
    const { config } = loaded;
    const fileSpec = loaded.preprocess as PreprocessSpec | undefined;
    let spec: PreprocessSpec;
    if (typeof options.preprocess === 'string') {
      spec = Object.prototype.hasOwnProperty.call(PRESETS, options.preprocess)
        ? PRESETS[options.preprocess]
        : (undefined as never);
      if (!spec)
        throw new InvalidArgumentError(
          `options.preprocess: expected 'torchvision' | 'caffe' or a spec, got ${describeValue(options.preprocess)}`,
        );
    } else spec = options.preprocess ?? fileSpec ?? PRESETS.torchvision;
    checkSpec(spec, config.inChannels);
    const labels = checkLabels(options.labels ?? loaded.labels ?? defaultLabels(config.numClasses), config.numClasses);
    const model = await Model.fromOwnedLayers(config, stream.layers, modelOptions);
    // A file's own preprocessing marks a model made for its own data (kept at its size by default); the
    // convention of a format (Keras, Caffe: BGR mean) does not.
    const ownPreprocess = !options.preprocess && !!fileSpec && !loaded.preprocessByConvention;
    return { model, labels, preprocess: spec, source: loaded.source, ownPreprocess };
  } catch (e) {
    await stream.layers.return?.(); // ends the loader thread's job (closes the file)
    throw e;
  }
}
