/**
 * The KServe v2 (Open Inference Protocol) inference request of a VGG classifier, checked:
 *   {"id"?: string, "parameters"?: {"mode"?: "fc" | "dense"},
 *    "inputs": [{"name": "input", "datatype": "FP32", "shape": [N, C, H, W], "data": [...]}],
 *    "outputs"?: [{"name": "logits" | "probabilities"}]}
 * `data` holds N·C·H·W numbers in row-major (NCHW) order, flat or nested as the shape. The values are the
 * network's input (already normalised), not pixels. Binary tensor data (the protocol's binary extension)
 * is not supported.
 */
import { InvalidArgumentError, UnsupportedError } from '../index';
import type { ForwardMode } from '../index';

export const INPUT_NAME = 'input';
/** The class outputs; a layer name of the model (conv4_3, pool5, fc7, …) asks for that layer's features. */
export const OUTPUT_NAMES = ['logits', 'probabilities'] as const;

export interface InferRequest {
  id?: string;
  /** Undefined: 'fc' at the training size, else 'dense'. */
  mode?: ForwardMode;
  dims: [number, number, number, number];
  /** N·C·H·W f32, NCHW. */
  data: Float32Array;
  /** 'logits', 'probabilities' or layer names, in the order asked for. */
  outputs: string[];
}

const REQUEST_KEYS = ['id', 'parameters', 'inputs', 'outputs'];
const INPUT_KEYS = ['name', 'shape', 'datatype', 'parameters', 'data'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function checkKeys(o: Record<string, unknown>, known: readonly string[], what: string): void {
  for (const k of Object.keys(o))
    if (!known.includes(k))
      throw new InvalidArgumentError(`${what}.${k}: unknown field; expected one of ${known.join(', ')}`);
}

/** Parameters an object may carry: the listed keys, and `binary_data*` only when false (JSON data). */
function checkParameters(p: unknown, known: readonly string[], what: string): Record<string, unknown> {
  if (p === undefined) return {};
  if (!isObject(p)) throw new InvalidArgumentError(`${what}: expected an object, got ${describe(p)}`);
  for (const [k, v] of Object.entries(p)) {
    if (known.includes(k)) continue;
    if ((k === 'binary_data' || k === 'binary_data_output') && v === false) continue;
    if (k.startsWith('binary_data'))
      throw new UnsupportedError(`${what}.${k}: binary tensor data is not supported; send JSON data`);
    throw new InvalidArgumentError(
      `${what}.${k}: unknown parameter; expected ${known.length ? known.join(', ') : 'none'}`,
    );
  }
  return p;
}

/**
 * Copies `data` (flat, or nested as `shape`) into a Float32Array, checking every element is a number.
 * @throws InvalidArgumentError naming the first wrong element or the count
 */
function flatten(data: unknown, shape: readonly number[], count: number, what: string): Float32Array {
  if (!Array.isArray(data)) throw new InvalidArgumentError(`${what}: expected an array, got ${describe(data)}`);
  // Nothing is allocated before the data is known to hold `count` numbers: a shape may claim far more
  // elements than the body carries.
  if (data.length === count && (count === 0 || typeof data[0] === 'number')) {
    for (let i = 0; i < count; i++)
      if (typeof data[i] !== 'number')
        throw new InvalidArgumentError(`${what}[${i}]: expected a number, got ${describe(data[i])}`);
    return Float32Array.from(data as number[]);
  }
  const rows: number[][] = []; // the innermost arrays, in row-major order
  const walk = (a: unknown, depth: number, path: string): void => {
    if (!Array.isArray(a) || a.length !== shape[depth])
      throw new InvalidArgumentError(
        `${path}: expected ${count} numbers flat, or arrays nested as the shape [${shape.join(', ')}]; got ${describe(a)} at depth ${depth}`,
      );
    if (depth < shape.length - 1) for (let i = 0; i < a.length; i++) walk(a[i], depth + 1, `${path}[${i}]`);
    else {
      for (let i = 0; i < a.length; i++)
        if (typeof a[i] !== 'number')
          throw new InvalidArgumentError(`${path}[${i}]: expected a number, got ${describe(a[i])}`);
      rows.push(a as number[]);
    }
  };
  walk(data, 0, what);
  const out = new Float32Array(count);
  rows.forEach((row, r) => out.set(row, r * shape[shape.length - 1]));
  return out;
}

/**
 * Checks an inference request body for a model taking `channels` input channels whose layers are `layers`
 * (names outputs may ask for besides OUTPUT_NAMES).
 * @throws InvalidArgumentError naming the field, the expected and the actual value; UnsupportedError for a
 *   datatype other than FP32 or binary data
 */
export function parseInferRequest(body: unknown, channels: number, layers: readonly string[] = []): InferRequest {
  if (!isObject(body)) throw new InvalidArgumentError(`body: expected a JSON object, got ${describe(body)}`);
  checkKeys(body, REQUEST_KEYS, 'body');
  if (body.id !== undefined && typeof body.id !== 'string')
    throw new InvalidArgumentError(`id: expected a string, got ${describe(body.id)}`);
  const params = checkParameters(body.parameters, ['mode'], 'parameters');
  if (params.mode !== undefined && params.mode !== 'fc' && params.mode !== 'dense' && params.mode !== 'torchvision')
    throw new InvalidArgumentError(
      `parameters.mode: expected 'fc' | 'dense' | 'torchvision', got ${describe(params.mode)}`,
    );
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length !== 1)
    throw new InvalidArgumentError(
      `inputs: expected an array of one tensor ('${INPUT_NAME}'), got ${describe(inputs)}`,
    );
  const t = inputs[0];
  if (!isObject(t)) throw new InvalidArgumentError(`inputs[0]: expected a tensor object, got ${describe(t)}`);
  checkKeys(t, INPUT_KEYS, 'inputs[0]');
  checkParameters(t.parameters, [], 'inputs[0].parameters');
  if (t.name !== INPUT_NAME)
    throw new InvalidArgumentError(`inputs[0].name: expected '${INPUT_NAME}', got ${describe(t.name)}`);
  if (t.datatype !== 'FP32') {
    const msg = `inputs[0].datatype: expected 'FP32', got ${describe(t.datatype)}`;
    throw typeof t.datatype === 'string' ? new UnsupportedError(msg) : new InvalidArgumentError(msg);
  }
  const shape = t.shape;
  if (
    !Array.isArray(shape) ||
    shape.length !== 4 ||
    !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 1)
  )
    throw new InvalidArgumentError(
      `inputs[0].shape: expected [N, C, H, W], four positive integers (NCHW), got ${JSON.stringify(shape)?.slice(0, 80)}`,
    );
  if (shape[1] !== channels)
    throw new InvalidArgumentError(
      `inputs[0].shape[1]: expected C = ${channels} (the model's input channels), got ${shape[1]}`,
    );
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  if (count > 2 ** 31) throw new InvalidArgumentError(`inputs[0].shape: ${count} elements is more than 2^31`);
  const data = flatten(t.data, shape, count, 'inputs[0].data');
  let outputs: string[] = [...OUTPUT_NAMES];
  const allowed: readonly unknown[] = [...OUTPUT_NAMES, ...layers];
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs) || body.outputs.length === 0)
      throw new InvalidArgumentError(`outputs: expected a non-empty array, got ${describe(body.outputs)}`);
    outputs = body.outputs.map((o: unknown, i: number) => {
      if (!isObject(o)) throw new InvalidArgumentError(`outputs[${i}]: expected an object, got ${describe(o)}`);
      checkKeys(o, ['name', 'parameters'], `outputs[${i}]`);
      checkParameters(o.parameters, [], `outputs[${i}].parameters`);
      if (!allowed.includes(o.name))
        throw new InvalidArgumentError(
          `outputs[${i}].name: expected ${OUTPUT_NAMES.map((n) => `'${n}'`).join(' | ')} or a layer name ` +
            `(${layers.join(', ')}), got ${describe(o.name)}`,
        );
      return o.name as string;
    });
    const twice = outputs.find((n, i) => outputs.indexOf(n) !== i);
    if (twice !== undefined) throw new InvalidArgumentError(`outputs: '${twice}' is asked for twice`);
  }
  return {
    ...(body.id !== undefined ? { id: body.id as string } : {}),
    ...(params.mode !== undefined ? { mode: params.mode as ForwardMode } : {}),
    dims: shape as [number, number, number, number],
    data,
    outputs,
  };
}
