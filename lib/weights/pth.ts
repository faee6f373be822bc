/** PyTorch .pth weights (not read yet: the reader is being written). */
import { UnsupportedError } from '../errors';
import type { LoadWeightsOptions, WeightsReader } from './types';

/** @throws UnsupportedError always, for now */
export async function openPthWeights(file: string, options: LoadWeightsOptions): Promise<WeightsReader> {
  void options;
  throw new UnsupportedError(`${file}: PyTorch .pth files are not read yet`);
}
