/**
 * ONNX graphs of a vggnet config, for checking our kernels against onnxruntime (the outside reference).
 *
 * Two styles, the same weights:
 *  - 'fc'   (what torchvision exports): Conv 3×3 pad 1 (1×1 pad 0 for config C) + Relu …, MaxPool 2×2 s2,
 *           [LRN], Flatten after pool5, then Gemm(transB=1) + Relu for FC6, FC7, Gemm for FC8.
 *           Input x (N,C,S,S) with S = config.inputSize; output logits (N,K).
 *           FC6's weight is the OIHW (4096,512,7,7) tensor seen as (4096, 25088): the same memory, since
 *           Flatten orders pool5 as C,H,W.
 *  - 'conv' (the paper's dense evaluation, §3.2): FC6 a 7×7 Conv without padding, FC7/FC8 1×1 Convs.
 *           Input x (N,C,H,W) of any size whose pool5 is at least 7×7; output the class score map (N,K,h,w).
 *
 * N (and H, W in 'conv') are symbolic dims, so one session serves several batch sizes and image sizes.
 * Weights go in as FLOAT initializers whose raw_data is a view of the caller's Float32Array (little-endian
 * hosts only: ONNX raw_data is little-endian), so building a VGG16 graph (553 MB of weights) copies the
 * weights exactly once, into the serialised bytes.
 *
 * LRN: ours (lib/topology.ts LRN_PARAMS) is y = x / (k + α·Σx²)^β over the channel window
 * [c − floor(size/2), c + size − 1 − floor(size/2)] clipped to [0, C−1]; ONNX LRN divides its alpha by
 * size and uses the window [c − floor((size−1)/2), c + ceil((size−1)/2)], clipped. For odd size (5) the
 * windows coincide; so the ONNX node gets alpha = α·size, bias = k, beta = β, size = size. Even sizes
 * would put the extra channel on opposite sides: buildOnnxModel rejects them.
 */
import * as os from 'os';
import { onnx } from 'onnx-proto';
import { layerProgram, LayerStep, LayerWeights, VggConfig } from '../../lib';

export type GraphStyle = 'fc' | 'conv';

export interface OnnxGraphOptions {
  /** 'fc' (Flatten + Gemm head, logits (N,K)) or 'conv' (FC-as-conv head, score map (N,K,h,w)). */
  style: GraphStyle;
  /** Default 13. */
  opset?: number;
  /** Test-only: write our α into ONNX's alpha unconverted (the classic mistake), to show a test catches it. */
  lrnAlphaUnconverted?: boolean;
}

/** Names of the graph's one input and one output. */
export const ONNX_INPUT = 'x';
export const ONNX_OUTPUT = 'scores';

/** protobuf (and ONNX) refuse messages of 2 GiB or more. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

type ConvStep = Extract<LayerStep, { kind: 'conv' }>;

const A = onnx.AttributeProto.AttributeType;
const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: A.INTS, ints: v });
const int = (name: string, v: number): onnx.IAttributeProto => ({ name, type: A.INT, i: v });
const float = (name: string, v: number): onnx.IAttributeProto => ({ name, type: A.FLOAT, f: v });

/** A float32 initializer whose raw_data aliases `data` (no copy). */
function initializer(name: string, dims: number[], data: Float32Array): onnx.ITensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`${name}: ${data.length} floats for dims [${dims.join(',')}] (${n})`);
  return {
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function valueInfo(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * The ModelProto of `config` with `weights` (layer-program order, weight (K,C,R,S) OIHW f32, bias (K)).
 * The weight arrays are referenced, not copied: keep them alive until the model is serialised.
 */
export function buildOnnxModel(config: VggConfig, weights: LayerWeights[], options: OnnxGraphOptions): onnx.ModelProto {
  if (os.endianness() !== 'LE') throw new Error('onnx-graph: raw_data views need a little-endian host');
  const { style } = options;
  const program = layerProgram(config);
  const convs = program.filter((s): s is ConvStep => s.kind === 'conv');
  if (weights.length !== convs.length)
    throw new Error(`onnx-graph: ${config.name} has ${convs.length} conv/FC layers, got ${weights.length} weight sets`);

  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  let cur = ONNX_INPUT;
  let ci = 0;
  let flattened = false;
  const last = program.length - 1;
  program.forEach((step, i) => {
    const out = i === last ? ONNX_OUTPUT : step.name;
    if (step.kind === 'maxpool') {
      nodes.push({
        name: step.name,
        opType: 'MaxPool',
        input: [cur],
        output: [out],
        attribute: [ints('kernel_shape', [step.window, step.window]), ints('strides', [step.stride, step.stride])],
      });
    } else if (step.kind === 'lrn') {
      if (step.size % 2 !== 1) throw new Error(`onnx-graph: LRN size ${step.size}: even windows differ from ONNX's`);
      nodes.push({
        name: step.name,
        opType: 'LRN',
        input: [cur],
        output: [out],
        attribute: [
          int('size', step.size),
          float('alpha', options.lrnAlphaUnconverted ? step.alpha : step.alpha * step.size),
          float('beta', step.beta),
          float('bias', step.k),
        ],
      });
    } else {
      const w = weights[ci++];
      const isFc = step.name.startsWith('fc');
      const wName = `${step.name}.weight`;
      const bName = `${step.name}.bias`;
      inits.push(initializer(bName, [step.outChannels], w.bias));
      if (isFc && style === 'fc') {
        if (!flattened) {
          nodes.push({
            name: 'flatten',
            opType: 'Flatten',
            input: [cur],
            output: ['flatten'],
            attribute: [int('axis', 1)],
          });
          cur = 'flatten';
          flattened = true;
        }
        const fanIn = step.inChannels * step.kernel * step.kernel;
        inits.push(initializer(wName, [step.outChannels, fanIn], w.weight));
        const gemmOut = step.relu ? `${step.name}.pre` : out;
        nodes.push({
          name: step.name,
          opType: 'Gemm',
          input: [cur, wName, bName],
          output: [gemmOut],
          attribute: [int('transB', 1)],
        });
        if (step.relu) nodes.push({ name: `${step.name}.relu`, opType: 'Relu', input: [gemmOut], output: [out] });
      } else {
        inits.push(initializer(wName, [step.outChannels, step.inChannels, step.kernel, step.kernel], w.weight));
        const convOut = step.relu ? `${step.name}.pre` : out;
        const p = step.pad;
        nodes.push({
          name: step.name,
          opType: 'Conv',
          input: [cur, wName, bName],
          output: [convOut],
          attribute: [
            ints('kernel_shape', [step.kernel, step.kernel]),
            ints('strides', [step.stride, step.stride]),
            ints('pads', [p, p, p, p]),
            ints('dilations', [1, 1]),
            int('group', 1),
          ],
        });
        if (step.relu) nodes.push({ name: `${step.name}.relu`, opType: 'Relu', input: [convOut], output: [out] });
      }
    }
    cur = out;
  });

  const K = config.numClasses;
  const inDims =
    style === 'fc' ? ['N', config.inChannels, config.inputSize, config.inputSize] : ['N', config.inChannels, 'H', 'W'];
  const outDims = style === 'fc' ? ['N', K] : ['N', K, 'h', 'w'];
  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'vggnet test/support/onnx-graph.ts',
    opsetImport: [{ domain: '', version: options.opset ?? 13 }],
    graph: {
      name: `${config.name}_${style}`,
      node: nodes,
      initializer: inits,
      input: [valueInfo(ONNX_INPUT, inDims)],
      output: [valueInfo(ONNX_OUTPUT, outDims)],
    },
  });
}

/** Serialises buildOnnxModel(...) into one buffer (the only copy of the weights made). */
export function buildOnnxBytes(config: VggConfig, weights: LayerWeights[], options: OnnxGraphOptions): Uint8Array {
  const bytesOfWeights = weights.reduce((a, w) => a + w.weight.byteLength + w.bias.byteLength, 0);
  if (bytesOfWeights > PROTOBUF_LIMIT - (1 << 20))
    throw new Error(`onnx-graph: ${bytesOfWeights} bytes of weights exceed protobuf's 2 GiB limit`);
  const bytes = onnx.ModelProto.encode(buildOnnxModel(config, weights, options)).finish();
  if (bytes.length > PROTOBUF_LIMIT) throw new Error(`onnx-graph: serialised model is ${bytes.length} bytes (> 2 GiB)`);
  return bytes;
}
