/**
 * Building a native network without blocking the event loop: each conv/FC layer's weights are packed into
 * the backend's layout on the libuv pool (native NetworkBuilder), one layer at a time, so only one layer's
 * source is held beside the packed weights.
 *  - packCopies: the caller's arrays. Each is copied on the JS thread into staging memory that a pool thread
 *    allocated and touched beforehand (a plain memcpy, in 8 MB chunks with the event loop running between
 *    them), so the caller may mutate, detach or transfer its arrays at any time: a detached array is an
 *    InvalidArgumentError naming it, never a read of freed memory.
 *  - packOwned: arrays the library took over (read from a file, generated on the loader thread). Each buffer is
 *    first moved (transferred, no copy) into an array nothing else references, then read in place and
 *    detached once packed, which frees it at once.
 */
import { native, NativeBackendOptions, NativeLayer, NativeNetwork, NativeNetworkBuilder } from './native';
import type { LayerWeights } from './random-weights';
import type { IndexedLayer } from './worker/tasks';

/** Layers of at least this many floats are staged off-thread before their copy (smaller ones are copied at once). */
const STAGE_FLOATS = 1 << 20;
/** The copy of a staged layer goes in chunks of this many floats (8 MB: a few ms), the event loop running between. */
const CHUNK_FLOATS = 1 << 21;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Packs the caller's weights (program order), largest layer first, copying each when its turn comes; see the
 *  module comment. */
export async function packCopies(
  options: NativeBackendOptions,
  layers: NativeLayer[],
  weights: readonly LayerWeights[],
): Promise<NativeNetwork> {
  const b = new (native().NetworkBuilder)(options, layers);
  const running = new Set<Promise<void>>();
  const track = (p: Promise<void>): Promise<void> => {
    running.add(p);
    const done = () => void running.delete(p);
    p.then(done, done);
    return p;
  };
  // Largest first: FC6's copy and packed form then coexist while little else is packed (lower peak memory).
  const order = weights.map((_, i) => i).sort((a, c) => weights[c].weight.length - weights[a].weight.length || a - c);
  const stage = (k: number): Promise<void> =>
    track(
      k < order.length && weights[order[k]].weight.length >= STAGE_FLOATS ? b.reserve(order[k]) : Promise.resolve(),
    );
  try {
    let staged = stage(0);
    let packing: Promise<void> = Promise.resolve();
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      await staged;
      const w = weights[i];
      if (w.weight.length >= STAGE_FLOATS)
        for (let from = 0; from < w.weight.length; from += CHUNK_FLOATS) {
          b.stage(i, w.weight, from, Math.min(w.weight.length, from + CHUNK_FLOATS));
          await turn();
        }
      const packed = track(b.pack(i, w.weight, w.bias, false)); // copies now
      staged = stage(k + 1); // the next layer's staging is allocated while this one packs
      await packing;
      packing = packed;
    }
    await packing;
  } catch (e) {
    await Promise.allSettled([...running]); // nothing left running behind the error
    throw e;
  }
  return new (native().Network)(b);
}

/**
 * The array's memory moved into a new array that nothing else references (a transfer: no copy; every other
 * view of the old buffer becomes detached, length 0), or null when it cannot be moved (a view of part of a
 * buffer, a buffer that cannot be transferred). What makes reading it in place off-thread safe whoever
 * handed it over.
 */
function own(a: Float32Array): Float32Array | null {
  const buf = a.buffer;
  if (a.byteOffset !== 0 || a.byteLength !== buf.byteLength) return null;
  try {
    return new Float32Array(structuredClone(buf, { transfer: [buf as ArrayBuffer] }) as ArrayBuffer);
  } catch {
    return null;
  }
}

/**
 * Packs layers the library alone holds as they arrive from `source` (any order; a layer's bands, IndexedLayer
 * .from, in order), reading them in place; the next layer or band is fetched while one packs. On an error
 * the source is closed (return()).
 */
export async function packOwned(
  options: NativeBackendOptions,
  layers: NativeLayer[],
  source: AsyncIterator<IndexedLayer>,
): Promise<NativeNetwork> {
  const b: NativeNetworkBuilder = new (native().NetworkBuilder)(options, layers);
  let next = source.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) break;
      next = source.next();
      const weight = own(r.value.weight);
      const bias = own(r.value.bias);
      // Arrays we could not take over (a view into a larger buffer, a non-transferable buffer) are copied.
      const take = !!(weight && bias);
      if (r.value.from === undefined) await b.pack(r.value.index, weight ?? r.value.weight, bias ?? r.value.bias, take);
      else await b.packRows(r.value.index, weight ?? r.value.weight, bias ?? r.value.bias, r.value.from, take);
    }
  } catch (e) {
    await Promise.allSettled([next]);
    await source.return?.();
    throw e;
  }
  return new (native().Network)(b);
}
