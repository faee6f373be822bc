/** The memory budget of a model (ModelOptions.memoryBudget) resolved for its device. */
import * as os from 'os';

import { backends } from './backends';

/** Share of host memory a CPU or reference model's forwards may use by default. */
export const HOST_BUDGET_SHARE = 0.5;
/** Share of a GPU's memory a CUDA model's forwards may use by default (the rest: packed weights and the CUDA context). */
export const DEVICE_BUDGET_SHARE = 0.8;

/**
 * Bytes for the native network: 'auto' → HOST_BUDGET_SHARE of os.totalmem() on 'cpu' and 'reference',
 * DEVICE_BUDGET_SHARE of the GPU's memory on 'cuda:N'; Infinity → 0 (no limit); a number is kept.
 * @param device  a concrete device ('cpu', 'reference', 'cuda:N')
 */
export function resolveMemoryBudget(budget: number | 'auto', device: string): number {
  if (budget === Infinity) return 0;
  if (budget !== 'auto') return budget;
  if (device.startsWith('cuda:')) {
    const index = Number(device.slice(5));
    const gpu = backends().cuda.devices.find((d) => d.index === index);
    if (gpu) return Math.floor(gpu.totalMemoryBytes * DEVICE_BUDGET_SHARE);
  }
  return Math.floor(os.totalmem() * HOST_BUDGET_SHARE);
}
