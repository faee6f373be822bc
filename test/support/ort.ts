/**
 * onnxruntime-node (CPU) as the outside reference: sessions from serialised ONNX bytes (see onnx-graph.ts),
 * graph optimisation 'all', 2 intra-op threads (the build machines have 2 cores).
 */
import * as ort from 'onnxruntime-node';
import { ONNX_INPUT, ONNX_OUTPUT } from './onnx-graph';

/*
 * Jest runs each test file in its own vm context, so the Float32Array seen here (and by onnxruntime-common,
 * loaded in that context) is not the one ORT's native addon creates its outputs with (the process's main
 * context): onnxruntime-common's `data instanceof Float32Array` check then throws "A float32 tensor's data
 * must be type of function Float32Array()" from session.run (microsoft/onnxruntime#16622). Make
 * `instanceof Float32Array` in this context accept a Float32Array of any realm (same answer as before for
 * this realm's arrays; no effect outside jest, where there is one realm).
 */
if (!Object.prototype.hasOwnProperty.call(Float32Array, Symbol.hasInstance)) {
  Object.defineProperty(Float32Array, Symbol.hasInstance, {
    value: (v: unknown) => ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === '[object Float32Array]',
  });
}

export interface OrtOutput {
  data: Float32Array;
  dims: number[];
}

export const ORT_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: 2,
  interOpNumThreads: 1,
  executionMode: 'sequential',
};

/** A session over `bytes` (a serialised ModelProto). Call `release()` when done: it holds its own weights. */
export function createSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, ORT_SESSION_OPTIONS);
}

/** Runs x (dims, f32) through the session's one input and returns its one output. */
export async function runSession(
  session: ort.InferenceSession,
  dims: readonly number[],
  x: Float32Array,
): Promise<OrtOutput> {
  const input = new ort.Tensor('float32', x, [...dims]);
  const results = await session.run({ [ONNX_INPUT]: input });
  const y = results[ONNX_OUTPUT];
  if (!y || y.type !== 'float32') throw new Error(`ort: output '${ONNX_OUTPUT}' missing or not float32`);
  // Copy out of ORT's buffer so the result outlives the tensor's disposal.
  const out = { data: Float32Array.from(y.data as Float32Array), dims: y.dims.map(Number) };
  y.dispose();
  input.dispose();
  return out;
}

/** One-shot: create a session, run each input in turn, release the session. */
export async function runOrt(
  bytes: Uint8Array,
  inputs: { dims: readonly number[]; data: Float32Array }[],
): Promise<OrtOutput[]> {
  const session = await createSession(bytes);
  try {
    const outs: OrtOutput[] = [];
    for (const x of inputs) outs.push(await runSession(session, x.dims, x.data));
    return outs;
  } finally {
    await session.release();
  }
}
