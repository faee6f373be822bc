/** Caffe .caffemodel weights (not read yet: the reader is being written). */
import { UnsupportedError } from '../errors';
import type { LoadWeightsOptions, WeightsReader } from './types';

/** @throws UnsupportedError always, for now */
export async function openCaffeWeights(file: string, options: LoadWeightsOptions): Promise<WeightsReader> {
  void options;
  throw new UnsupportedError(`${file}: Caffe .caffemodel files are not read yet`);
}
