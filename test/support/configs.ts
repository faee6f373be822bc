/** Small custom VGG-style configs the suites share (every layer kind of the paper's nets, fast to run). */
import type { VggConfig } from '../../lib';

/** 3×3 and 1×1 convs (config C's kind), three stages, two hidden FC layers; 32×32 input. */
export const tiny: VggConfig = {
  name: 'tiny',
  inChannels: 3,
  inputSize: 32,
  stages: [[8], [8, { channels: 16, kernel: 1 }], [16]],
  fc: [24, 24],
  numClasses: 7,
};

/** 2 stages with a 1×1 conv in stage 2, 16×16 → pool5 4×4, so FC6 is a 4×4 kernel over 12 channels: the
 *  C,H,W order of its weights matters (the weights readers' tests). */
export const small: VggConfig = {
  name: 'small',
  inChannels: 3,
  inputSize: 16,
  stages: [[8], [12, { channels: 12, kernel: 1 }]],
  fc: [20, 20],
  numClasses: 5,
};
