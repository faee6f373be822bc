/**
 * Loading a ready-to-use classifier: weights file → Model, with its labels and preprocessing.
 * Default weights: the embedded MNIST model (models/mnist-vgg.safetensors, see its model card).
 */
import * as path from 'path';

import { InvalidArgumentError } from './errors';
import { Classifier } from './evaluate';
import { checkLabels, defaultLabels } from './labels';
import { Model, ModelOptions } from './model';
import { packageRoot } from './native';
import { checkSpec, PRESETS, PreprocessSpec } from './preprocess';
import { VggConfig } from './topology';
import { loadWeights } from './weights';

export interface LoadOptions extends ModelOptions {
  /** Architecture, when detection from names and shapes is not enough (vgg11_lrn) or to check it. */
  arch?: string | VggConfig;
  /** 'torchvision' | 'caffe' | a spec. Default: the file's own, else torchvision (what torchvision, timm and
   *  the ONNX model zoo's VGG weights expect). */
  preprocess?: 'torchvision' | 'caffe' | PreprocessSpec;
  /** Class names; default: the file's own, else ImageNet-1k for 1000 classes, else indices. */
  labels?: string[];
}

/** Path of the embedded default model. */
export function defaultWeightsPath(): string {
  return path.join(packageRoot(), 'models', 'mnist-vgg.safetensors');
}

/**
 * Loads weights (safetensors or ONNX) into a Model on the chosen device.
 * @throws FormatError / UnsupportedError from the reader, InvalidArgumentError for inconsistent options
 */
export async function loadClassifier(file: string = defaultWeightsPath(), opts: LoadOptions | null = {}): Promise<Classifier> {
  const options = opts ?? {};
  const loaded = await loadWeights(file, { arch: options.arch });
  const { config } = loaded;
  const fileSpec = loaded.preprocess as PreprocessSpec | undefined;
  let spec: PreprocessSpec;
  if (typeof options.preprocess === 'string') {
    spec = Object.prototype.hasOwnProperty.call(PRESETS, options.preprocess) ? PRESETS[options.preprocess] : (undefined as never);
    if (!spec) throw new InvalidArgumentError(`preprocess: expected 'torchvision' | 'caffe' or a spec, got '${options.preprocess}'`);
  } else spec = options.preprocess ?? fileSpec ?? PRESETS.torchvision;
  checkSpec(spec, config.inChannels);
  const labels = checkLabels(options.labels ?? loaded.labels ?? defaultLabels(config.numClasses), config.numClasses);
  const model = Model.create(config, loaded.weights, options);
  return { model, labels, preprocess: spec, source: loaded.source, ownPreprocess: !options.preprocess && !!fileSpec };
}
