/**
 * The classifier every command (`vggnet classify`, `embed`, `serve`, `worker`) loads from its flags: a weights file,
 * the embedded MNIST model, or seeded random weights of an architecture, with the model's scheduler options.
 */
import {
  Classifier,
  ConvAlgorithm,
  defaultLabels,
  DeviceName,
  InvalidArgumentError,
  loadClassifier,
  LoadOptions,
  Model,
  ModelOptions,
  Precision,
  PreprocessSpec,
  PRESETS,
} from './index';

/** The model flags both commands take (the library checks the values). */
export interface ModelFlags {
  weights?: string;
  random?: string;
  seed: number;
  arch?: string;
  device: string;
  threads?: number;
  memoryBudget?: number;
  convAlgorithm: ConvAlgorithm;
  precision?: Precision;
  preprocess?: 'torchvision' | 'caffe';
  maxBatch?: number;
  maxDelayMs?: number;
  maxQueue?: number;
}

/** Normalisation of random greyscale models (1 input channel): pixels / 255. */
const GREY: PreprocessSpec = { colorSpace: 'grey', scale: 1 / 255, mean: [0], std: [1] };

/** Checks flags that contradict each other, before a command starts anything. @throws InvalidArgumentError */
export function checkModelFlags(o: ModelFlags): void {
  if (o.random && (o.weights || o.arch))
    throw new InvalidArgumentError('--random: the architecture comes with it; not together with --weights or --arch');
}

/**
 * Loads the classifier the flags name.
 * @throws InvalidArgumentError (see checkModelFlags), and whatever loading throws
 */
export async function loadFromFlags(o: ModelFlags): Promise<Classifier> {
  checkModelFlags(o);
  const modelOptions: ModelOptions = {
    device: o.device as DeviceName, // checked by the library
    convAlgorithm: o.convAlgorithm,
  };
  if (o.threads !== undefined) modelOptions.threads = o.threads;
  if (o.precision !== undefined) modelOptions.precision = o.precision;
  if (o.memoryBudget !== undefined) modelOptions.memoryBudget = o.memoryBudget;
  if (o.maxBatch !== undefined) modelOptions.maxBatch = o.maxBatch;
  if (o.maxDelayMs !== undefined) modelOptions.maxDelayMs = o.maxDelayMs;
  if (o.maxQueue !== undefined) modelOptions.maxQueue = o.maxQueue;
  if (o.random) {
    const model = await Model.random(o.random, o.seed, modelOptions);
    const { inChannels, numClasses } = model.config;
    const preprocess = o.preprocess ? PRESETS[o.preprocess] : inChannels === 1 ? GREY : PRESETS.torchvision;
    return { model, labels: defaultLabels(numClasses), preprocess, source: 'random', ownPreprocess: false };
  }
  const opts: LoadOptions = { ...modelOptions };
  if (o.arch) opts.arch = o.arch;
  if (o.preprocess) opts.preprocess = o.preprocess;
  return loadClassifier(o.weights, opts);
}
