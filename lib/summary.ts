/**
 * Per-layer summary of a topology at a given input size: operation, kernel, stride, padding, output
 * H×W×C (P = floor((H + 2·pad − k)/stride) + 1), parameters and multiply-adds (FLOPs = 2 × MACs).
 * At 224×224 with 1000 classes the parameter totals are those of the paper's Table 2 (A 133 M … E 144 M;
 * exact: A 132,863,336, B 133,047,848, C 133,638,952, D 138,357,544, E 143,667,240).
 */
import { describeValue } from './describe';
import { InvalidArgumentError } from './errors';
import { shapeProgram } from './shapes';
import { layerProgram, resolveConfig, VggConfig } from './topology';

export interface LayerSummary {
  name: string;
  /** 'conv' | 'maxpool' | 'lrn' | 'fc' (FC layers at the training size: the FC head) | 'fc-dense' (FC layers
   *  run as convs over a larger input: dense evaluation, paper §3.2). */
  op: 'conv' | 'maxpool' | 'lrn' | 'fc' | 'fc-dense';
  kernel: number;
  stride: number;
  padding: number;
  /** Output H, W, C. */
  output: [number, number, number];
  params: number;
  macs: number;
}

export interface ModelSummary {
  arch: string;
  input: [number, number, number];
  layers: LayerSummary[];
  totalParams: number;
  totalMacs: number;
}

/**
 * @param arch   name or config
 * @param input  input H×W in pixels (a number: square); defaults to the config's inputSize (224). At the
 *               training size the FC layers are the FC head ('fc'); on a larger input they run as convs
 *               ('fc-dense', dense evaluation) and their outputs are score maps.
 * @throws InvalidArgumentError when the input is too small for the network (a layer's input smaller than
 *   its kernel or window: pool5 smaller than FC6's kernel)
 */
export function summary(arch: string | VggConfig, input?: number | [number, number]): ModelSummary {
  const cfg = resolveConfig(arch);
  if (input !== undefined && typeof input !== 'number' && !(Array.isArray(input) && input.length === 2))
    throw new InvalidArgumentError(`input: expected a size or [height, width], got ${describeValue(input)}`);
  const [H0, W0] =
    input === undefined ? [cfg.inputSize, cfg.inputSize] : typeof input === 'number' ? [input, input] : input;
  for (const v of [H0, W0])
    if (!Number.isInteger(v) || v < 1)
      throw new InvalidArgumentError(`input: expected a positive integer size, got ${describeValue(v)}`);
  const atTrainingSize = H0 === cfg.inputSize && W0 === cfg.inputSize;
  let inC = cfg.inChannels;
  const layers = shapeProgram(cfg, layerProgram(cfg), [1, cfg.inChannels, H0, W0]).map(
    ({ step: s, output: [, c, h, w] }): LayerSummary => {
      const inChannels = inC;
      inC = c;
      const output: [number, number, number] = [h, w, c];
      if (s.kind === 'maxpool')
        return {
          name: s.name,
          op: 'maxpool',
          kernel: s.window,
          stride: s.stride,
          padding: 0,
          output,
          params: 0,
          macs: 0,
        };
      if (s.kind === 'lrn')
        return { name: s.name, op: 'lrn', kernel: s.size, stride: 1, padding: 0, output, params: 0, macs: 0 };
      const isFc = s.name.startsWith('fc');
      const macsPerPixel = s.outChannels * inChannels * s.kernel * s.kernel;
      return {
        name: s.name,
        op: isFc ? (atTrainingSize ? 'fc' : 'fc-dense') : 'conv',
        kernel: s.kernel,
        stride: s.stride,
        padding: s.pad,
        output,
        params: macsPerPixel + s.outChannels,
        macs: h * w * macsPerPixel,
      };
    },
  );
  return {
    arch: cfg.name,
    input: [H0, W0, cfg.inChannels],
    layers,
    totalParams: layers.reduce((a, l) => a + l.params, 0),
    totalMacs: layers.reduce((a, l) => a + l.macs, 0),
  };
}

/** A fixed-width text table of a summary. */
export function formatSummary(s: ModelSummary): string {
  const rows = [['layer', 'op', 'k', 's', 'p', 'output H×W×C', 'params', 'MACs']];
  for (const l of s.layers)
    rows.push([
      l.name,
      l.op,
      String(l.kernel),
      String(l.stride),
      String(l.padding),
      l.output.join('×'),
      l.params.toLocaleString('en-US'),
      l.macs.toLocaleString('en-US'),
    ]);
  rows.push(['total', '', '', '', '', '', s.totalParams.toLocaleString('en-US'), s.totalMacs.toLocaleString('en-US')]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((v, i) => (i >= 6 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ');
  return [`${s.arch}, input ${s.input.join('×')} (GMACs ${(s.totalMacs / 1e9).toFixed(3)})`, ...rows.map(line)].join(
    '\n',
  );
}
