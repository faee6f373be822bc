/**
 * Per-layer summary of a topology at a given input size: operation, kernel, stride, padding, output
 * H×W×C (P = floor((H + 2·pad − k)/stride) + 1), parameters and multiply-adds (FLOPs = 2 × MACs).
 * At 224×224 with 1000 classes the parameter totals are those of the paper's Table 2 (A 133 M … E 144 M;
 * exact: A 132,863,336, B 133,047,848, C 133,638,952, D 138,357,544, E 143,667,240).
 */
import { InvalidArgumentError } from './errors';
import { layerProgram, pool5Size, resolveConfig, VggConfig } from './topology';

export interface LayerSummary {
  name: string;
  /** 'conv' | 'maxpool' | 'lrn' | 'fc' (FC layers at the training size) | 'fc-as-conv' (dense evaluation). */
  op: string;
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
 * @param input  input H×W (a number: square); defaults to the config's inputSize (224)
 * @throws InvalidArgumentError when the input is too small for the network (pool5 smaller than FC6's kernel)
 */
export function summary(arch: string | VggConfig, input?: number | [number, number]): ModelSummary {
  const cfg = resolveConfig(arch);
  const [H0, W0] = input === undefined ? [cfg.inputSize, cfg.inputSize] : typeof input === 'number' ? [input, input] : input;
  for (const v of [H0, W0])
    if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`input: expected a positive integer size, got ${v}`);
  const dense = H0 === cfg.inputSize && W0 === cfg.inputSize;
  let h = H0, w = W0, c = cfg.inChannels;
  const layers: LayerSummary[] = [];
  for (const s of layerProgram(cfg)) {
    if (s.kind === 'conv') {
      const isFc = s.name.startsWith('fc');
      const P = Math.floor((h + 2 * s.pad - s.kernel) / s.stride) + 1;
      const Q = Math.floor((w + 2 * s.pad - s.kernel) / s.stride) + 1;
      if (P < 1 || Q < 1)
        throw new InvalidArgumentError(
          `input: ${H0}×${W0} is too small for ${cfg.name}: ${s.name} needs at least ${s.kernel}×${s.kernel}, got ${h}×${w} (minimum input ${pool5Size(cfg) * 2 ** cfg.stages.length})`,
        );
      const params = s.outChannels * s.inChannels * s.kernel * s.kernel + s.outChannels;
      layers.push({ name: s.name, op: isFc ? (dense ? 'fc' : 'fc-as-conv') : 'conv', kernel: s.kernel, stride: s.stride, padding: s.pad, output: [P, Q, s.outChannels], params, macs: P * Q * (params - s.outChannels) });
      h = P; w = Q; c = s.outChannels;
    } else if (s.kind === 'maxpool') {
      h = Math.floor((h - s.window) / s.stride) + 1;
      w = Math.floor((w - s.window) / s.stride) + 1;
      if (h < 1 || w < 1) throw new InvalidArgumentError(`input: ${H0}×${W0} is too small for ${cfg.name} (${s.name})`);
      layers.push({ name: s.name, op: 'maxpool', kernel: s.window, stride: s.stride, padding: 0, output: [h, w, c], params: 0, macs: 0 });
    } else {
      layers.push({ name: s.name, op: 'lrn', kernel: s.size, stride: 1, padding: 0, output: [h, w, c], params: 0, macs: 0 });
    }
  }
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
    rows.push([l.name, l.op, String(l.kernel), String(l.stride), String(l.padding), l.output.join('×'), l.params.toLocaleString('en-US'), l.macs.toLocaleString('en-US')]);
  rows.push(['total', '', '', '', '', '', s.totalParams.toLocaleString('en-US'), s.totalMacs.toLocaleString('en-US')]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((v, i) => (i >= 6 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ');
  return [`${s.arch}, input ${s.input.join('×')} (GMACs ${(s.totalMacs / 1e9).toFixed(3)})`, ...rows.map(line)].join('\n');
}
