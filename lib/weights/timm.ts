/**
 * timm VGG state_dict names (timm/models/vgg.py):
 *   features.{i}.*                       as torchvision (Conv2d, [BatchNorm2d,] ReLU, MaxPool2d)
 *   pre_logits.fc1.weight (4096,512,7,7) FC6, a Conv2d (ConvMlp) – already OIHW
 *   pre_logits.fc2.weight (4096,4096,1,1) FC7, a 1×1 Conv2d
 *   head.fc.weight (1000, 4096)          FC8, a Linear
 * and their biases. timm's head has exactly two hidden layers.
 */
import { FormatError } from '../errors';
import { VggConfig, weightShapes } from '../topology';
import { DetectedArch, detectFeatures, ExpectedTensor, featureTensors, lastChannels, layerTensors } from './detect';

const HEAD = ['pre_logits.fc1', 'pre_logits.fc2', 'head.fc'];

/** Every tensor of a timm-named file for `config`, in program order. */
export function timmTensors(config: VggConfig, batchNorm: boolean): ExpectedTensor[] {
  if (config.fc.length !== 2)
    throw new FormatError(
      `timm names: timm's VGG head has 2 hidden FC layers (pre_logits.fc1, fc2); ${config.name} has ${config.fc.length}`,
    );
  const shapes = weightShapes(config);
  const nConv = shapes.length - 3;
  const head = shapes.slice(nConv).flatMap((s, j) => {
    const shape = j === 2 ? [s.weight[0], s.weight[1]] : s.weight;
    return layerTensors(nConv + j, s.name, `${HEAD[j]}.weight`, shape, `${HEAD[j]}.bias`, null);
  });
  return [...featureTensors(config, batchNorm), ...head];
}

/** Architecture from timm names and shapes. */
export function detectTimm(shapes: Map<string, number[]>): DetectedArch {
  const f = detectFeatures(shapes);
  const w = HEAD.map((h) => {
    const s = shapes.get(`${h}.weight`);
    if (!s) throw new FormatError(`missing tensor '${h}.weight'`);
    return s;
  });
  if (w[0].length !== 4 || w[0][2] !== w[0][3])
    throw new FormatError(
      `tensor 'pre_logits.fc1.weight': expected a square conv kernel [out, C, p, p], found [${w[0].join(',')}]`,
    );
  const C = lastChannels(f.stages);
  if (w[0][1] !== C)
    throw new FormatError(
      `tensor 'pre_logits.fc1.weight': expected ${C} input channels (the last conv's), found shape [${w[0].join(',')}]`,
    );
  return { scheme: 'timm', ...f, fc: [w[0][0], w[1][0]], numClasses: w[2][0], pool5: w[0][2] };
}
