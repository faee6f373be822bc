/**
 * The shared case lists in test/cases/*.tsv (also read by the C++ harness): conv, max-pool and LRN shapes
 * by tag, and the VGG topologies of the paper's Table 1.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface ConvShape {
  N: number;
  C: number;
  H: number;
  W: number;
  K: number;
  R: number;
  S: number;
  stride: number;
  pad: number;
}
export interface ConvCase {
  name: string;
  tags: string[];
  s: ConvShape;
  relu: boolean;
  bias: boolean;
  /** Plant NaN and ±Inf in the input. */
  nonfinite: boolean;
}
export interface PoolCase {
  name: string;
  tags: string[];
  s: { N: number; C: number; H: number; W: number; window: number; stride: number };
}
export interface LrnCase {
  name: string;
  tags: string[];
  dims: [number, number, number, number];
  p: { size: number; alpha: number; beta: number; k: number };
}
export interface TopologyCase {
  name: string;
  inChannels: number;
  inputSize: number;
  lrn: boolean;
  /** Per stage, per conv: channels and kernel (3 or 1). */
  stages: { channels: number; kernel: 1 | 3 }[][];
  fc: number[];
  numClasses: number;
}

const DIR = path.join(__dirname, '..', 'cases');

function rows(file: string, columns: number): string[][] {
  const text = fs.readFileSync(path.join(DIR, file), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l, i) => {
      const f = l.split('\t');
      if (f.length !== columns)
        throw new Error(`test/cases/${file}: row ${i + 1} has ${f.length} fields, expected ${columns}`);
      return f;
    });
}

const hasTag = (tags: string[], want: readonly string[]) => want.length === 0 || tags.some((t) => want.includes(t));

/** Conv cases carrying any of `tags` (all cases when none is given). */
export function convCases(...tags: string[]): ConvCase[] {
  return rows('conv.tsv', 13)
    .map(([t, name, ...v]) => {
      const [N, C, H, W, K, R, S, stride, pad, relu, bias] = v.map(Number);
      const tagList = t.split(',');
      return {
        name,
        tags: tagList,
        s: { N, C, H, W, K, R, S, stride, pad },
        relu: relu === 1,
        bias: bias === 1,
        nonfinite: tagList.includes('nonfinite'),
      };
    })
    .filter((c) => hasTag(c.tags, tags));
}

export function poolCases(...tags: string[]): PoolCase[] {
  return rows('pool.tsv', 8)
    .map(([t, name, ...v]) => {
      const [N, C, H, W, window, stride] = v.map(Number);
      return { name, tags: t.split(','), s: { N, C, H, W, window, stride } };
    })
    .filter((c) => hasTag(c.tags, tags));
}

export function lrnCases(...tags: string[]): LrnCase[] {
  return rows('lrn.tsv', 10)
    .map(([t, name, ...v]) => {
      const [N, C, H, W, size, alpha, beta, k] = v.map(Number);
      return {
        name,
        tags: t.split(','),
        dims: [N, C, H, W] as [number, number, number, number],
        p: { size, alpha, beta, k },
      };
    })
    .filter((c) => hasTag(c.tags, tags));
}

export function topologyCases(): TopologyCase[] {
  return rows('topologies.tsv', 7).map(([name, inCh, size, lrn, stages, fc, classes]) => ({
    name,
    inChannels: Number(inCh),
    inputSize: Number(size),
    lrn: lrn === '1',
    stages: stages.split('/').map((st) =>
      st.split(',').map((c) => {
        const [ch, k] = c.split(':');
        return { channels: Number(ch), kernel: (k === '1' ? 1 : 3) as 1 | 3 };
      }),
    ),
    fc: fc.split(',').map(Number),
    numClasses: Number(classes),
  }));
}

/** P, Q of a conv: floor((H + 2·pad − R)/stride) + 1. */
export const outHW = (s: ConvShape): [number, number] => [
  Math.floor((s.H + 2 * s.pad - s.R) / s.stride) + 1,
  Math.floor((s.W + 2 * s.pad - s.S) / s.stride) + 1,
];
