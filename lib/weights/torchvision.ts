/**
 * torchvision VGG state_dict names (torchvision/models/vgg.py):
 *   features.{i}.weight (K,C,R,S) OIHW, features.{i}.bias (K)   the convs, i counting Conv2d, [BatchNorm2d,]
 *                                                              ReLU and MaxPool2d modules of `features`
 *   features.{i+1}.weight|bias|running_mean|running_var|num_batches_tracked   BatchNorm2d (vgg*_bn only)
 *   classifier.0.weight (4096, 25088)   FC6: Linear on the C,H,W-flattened pool5, the same memory as OIHW
 *                                       (4096, 512, 7, 7)
 *   classifier.3.weight (4096, 4096)    FC7  (classifier.1/.4 are ReLU, .2/.5 Dropout)
 *   classifier.6.weight (1000, 4096)    FC8
 * and their biases. Hidden FC j is classifier.{3j}, the last one classifier.{3·fc.length}.
 */
import { FormatError } from '../errors';
import { VggConfig, weightShapes } from '../topology';
import {
  DetectedArch,
  detectFeatures,
  ExpectedTensor,
  featureTensors,
  lastChannels,
  layerTensors,
  pool5FromFanIn,
} from './detect';

/** Every tensor of a torchvision-named file for `config`, in program order. */
export function torchvisionTensors(config: VggConfig, batchNorm: boolean): ExpectedTensor[] {
  const shapes = weightShapes(config);
  const nConv = shapes.length - config.fc.length - 1;
  const head = shapes.slice(nConv).flatMap((s, j) => {
    const [K, C, R, S] = s.weight;
    return layerTensors(
      nConv + j,
      s.name,
      `classifier.${3 * j}.weight`,
      [K, C * R * S],
      `classifier.${3 * j}.bias`,
      null,
    );
  });
  return [...featureTensors(config, batchNorm), ...head];
}

/** Architecture from torchvision names and shapes. */
export function detectTorchvision(shapes: Map<string, number[]>): DetectedArch {
  const f = detectFeatures(shapes);
  const fcs: number[] = [];
  for (const name of shapes.keys()) {
    const m = /^classifier\.(\d+)\.weight$/.exec(name);
    if (m) fcs.push(Number(m[1]));
  }
  if (fcs.length === 0) throw new FormatError(`missing tensor 'classifier.0.weight' (FC6)`);
  fcs.sort((a, b) => a - b);
  const outs: number[] = [];
  fcs.forEach((idx, j) => {
    const name = `classifier.${idx}.weight`;
    if (idx > 3 * j && !shapes.has(`classifier.${3 * j}.weight`))
      throw new FormatError(
        `missing tensor 'classifier.${3 * j}.weight' (FC${6 + j}): the next FC weight found is '${name}'`,
      );
    if (idx !== 3 * j)
      throw new FormatError(
        `tensor '${name}': expected the FC layers at classifier.0, .3, .6, …; found classifier.${idx} as FC ${j + 6}`,
      );
    const s = shapes.get(name)!;
    if (s.length !== 2)
      throw new FormatError(`tensor '${name}': expected a 2-D Linear weight [out, in], found shape [${s.join(',')}]`);
    outs.push(s[0]);
  });
  const fc6 = shapes.get('classifier.0.weight')!;
  const pool5 = pool5FromFanIn(fc6[1], lastChannels(f.stages), 'classifier.0.weight', fc6);
  return { scheme: 'torchvision', ...f, fc: outs.slice(0, -1), numClasses: outs[outs.length - 1], pool5 };
}
