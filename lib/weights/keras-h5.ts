/** Keras .h5 weights (not read yet: the reader is being written). */
import { UnsupportedError } from '../errors';
import type { LoadWeightsOptions, WeightsReader } from './types';

/** @throws UnsupportedError always, for now */
export async function openKerasWeights(file: string, options: LoadWeightsOptions): Promise<WeightsReader> {
  void options;
  throw new UnsupportedError(`${file}: Keras .h5 files are not read yet`);
}
