/**
 * Building a native network without blocking the event loop: each conv/FC layer's weights are packed into
 * the backend's layout on the libuv pool (native NetworkBuilder), one layer at a time, so only one layer's
 * source is held beside the packed weights.
 *  - packCopies: the caller's arrays. Each is copied on the JS thread into staging memory that a pool thread
 *    allocated and touched beforehand (a plain memcpy, in 8 MB chunks with the event loop running between
 *    them), so the caller may mutate, detach or transfer its arrays at any time: a detached array is an
 *    InvalidArgumentError naming it, never a read of freed memory.
 *  - packOwned: arrays only the library holds (read from a file, generated on the loader thread). They are
 *    read in place (no copy) and detached once packed, which frees them at once.
 */
import { native, NativeBackendOptions, NativeLayer, NativeNetwork, NativeNetworkBuilder } from './native';
import type { LayerWeights } from './random-weights';
import type { IndexedLayer } from './worker/tasks';

/** Layers of at least this many floats are staged off-thread before their copy (smaller ones are copied at once). */
const STAGE_FLOATS = 1 << 20;
/** The copy of a staged layer goes in chunks of this many floats (8 MB: a few ms), the event loop running between. */
const CHUNK_FLOATS = 1 << 21;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Packs the caller's weights (program order), copying each layer at the call; see the module comment. */
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
  const stage = (i: number): Promise<void> =>
    track(i < weights.length && weights[i].weight.length >= STAGE_FLOATS ? b.reserve(i) : Promise.resolve());
  try {
    let staged = stage(0);
    let packing: Promise<void> = Promise.resolve();
    for (let i = 0; i < weights.length; i++) {
      await staged;
      const w = weights[i];
      if (w.weight.length >= STAGE_FLOATS)
        for (let from = 0; from < w.weight.length; from += CHUNK_FLOATS) {
          b.stage(i, w.weight, from, Math.min(w.weight.length, from + CHUNK_FLOATS));
          await turn();
        }
      const packed = track(b.pack(i, w.weight, w.bias, false)); // copies now
      staged = stage(i + 1); // the next layer's staging is allocated while this one packs
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
 * Packs layers the library alone holds as they arrive from `source` (any order), reading them in place;
 * the next layer is fetched while one packs. On an error the source is closed (return()).
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
      await b.pack(r.value.index, r.value.weight, r.value.bias, true);
    }
  } catch (e) {
    await Promise.allSettled([next]);
    await source.return?.();
    throw e;
  }
  return new (native().Network)(b);
}
