/** vggnet: VGG networks (Simonyan & Zisserman 2014) at native speed in Node.js. */
export * from './errors';
export { Tensor, Device, Layout } from './tensor';
export { backends, chooseDevice, deviceMemory, BackendsReport, DeviceChoice } from './backends';
export { VALIDATED_GPUS, ValidatedGpu } from './validated-gpus';
export {
  ARCHS,
  LRN_PARAMS,
  VggConfig,
  ConvDef,
  LayerStep,
  resolveConfig,
  layerProgram,
  weightShapes,
  pool5Size,
} from './topology';
export { Dims4 } from './shapes';
export { summary, formatSummary, ModelSummary, LayerSummary } from './summary';
export {
  ModelOptions,
  DeviceName,
  CpuIsa,
  Precision,
  ConvAlgorithm,
  ConvAlgorithmByLayer,
  ForwardMode,
  DEFAULT_MODEL_OPTIONS,
} from './options';
export {
  Model,
  ForwardOptions,
  OutputLocation,
  Features,
  LayerPlan,
  ModelInfo,
  LayerWeights,
  randomWeights,
} from './model';
export { OutputPlan, MAX_OUTPUTS } from './outputs';
export { embedImage, EmbedOptions } from './embed';
export { SchedulerOptions, SchedulerStats } from './scheduler';
export * from './weights';
export {
  PRESETS,
  PreprocessSpec,
  ImageOptions,
  FailOn,
  DecodedImage,
  decodeImage,
  toTensor,
  loadImage,
  checkSpec,
  MAX_INPUT_PIXELS,
} from './preprocess';
export { ImageInput } from './image-input';
export { FetchOptions, DEFAULT_FETCH } from './fetch-image';
export { resizedSize, centreOffset } from './resize';
export { imagenetLabels, shortLabel, defaultLabels, checkLabels } from './labels';
export {
  classifyImage,
  Classifier,
  ClassifyOptions,
  Classification,
  Prediction,
  defaultScales,
  softmax,
  spatialMean,
  topK,
  MAX_VIEW_PIXELS,
} from './evaluate';
export { classifyImages, ClassifyImagesOptions } from './classify-images';
export { loadClassifier, LoadOptions, defaultWeightsPath } from './load';
