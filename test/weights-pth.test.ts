/**
 * PyTorch .pth weights, both serializations, against real PyTorch: scripts/torch/make-pth.py writes the files
 * with torch.save (Debian's python3-torch 1.13 + torchvision 0.14) and dumps every tensor as torch.load reads it
 * back; each is compared bit for bit with what this reader reads, and forwards with torch's own. torchvision's
 * vgg11 and vgg11_bn themselves (531 MB each, both serializations, vgg11_bn's forward through loadClassifier)
 * are written and checked too (about a minute more here; VGGNET_PTH_BIG=0 leaves them out, reported as
 * skipped). Hostile files (pickled calls to os.system and builtins.eval, whole models, TorchScript,
 * broken zips) come from the same script; bent pickles (deep nesting, memo abuse, views past their storage,
 * lying counts) are assembled here (support/pickle.ts). Two tiny real files are committed (test/fixtures/pth)
 * so that the basics are checked where torch is missing.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createHash } from 'crypto';

import {
  FormatError,
  loadClassifier,
  LoadedWeights,
  loadWeights,
  Model,
  openWeights,
  Tensor,
  UnsupportedError,
  VggError,
  weightShapes,
} from '../lib';
import { openPthTensors } from '../lib/weights/pth';
import { maxRelErr } from './support/compare';
import { Bytes, legacyFile, op, pickle, repeated, stateDictBody, StorageData, TensorSpec } from './support/pickle';
import { pythonMissing, runPython } from './support/python';
import { testIf } from './support/skip';

const SCRIPT = path.join(__dirname, '..', 'scripts', 'torch', 'make-pth.py');
const FIXTURES = path.join(__dirname, 'fixtures', 'pth');
const missing = pythonMissing('torch', 'torchvision');
const withTorch = testIf(missing === null, missing ?? '');
/** torchvision's vgg11 and vgg11_bn (531 MB each, both serializations) too, unless VGGNET_PTH_BIG=0. */
const BIG = process.env.VGGNET_PTH_BIG !== '0';

interface TensorRef {
  dtype: string;
  shape: number[];
  f32?: string;
  sha256?: string;
}
interface ForwardRef {
  file?: string;
  shape: number[];
  input: string;
  logits: string;
}
interface Manifest {
  files: Record<string, { weights_only?: boolean; tensors?: Record<string, TensorRef> }>;
  forward: Record<string, ForwardRef>;
}

const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
/** Index of the first element whose bits differ (or -1), so a failure names where. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
const sha256 = (a: Float32Array) =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');
/** Every tensor of `file` equals torch's reading bit for bit (f16/bf16 widened; integer tensors by shape). */
async function expectSameTensors(file: string, want: Record<string, TensorRef>): Promise<void> {
  const src = await openPthTensors(file);
  try {
    expect(src.names()).toEqual(Object.keys(want));
    for (const [name, ref] of Object.entries(want)) {
      expect([name, src.shape(name), src.dtype(name)]).toEqual([name, ref.shape, ref.dtype]);
      if (!ref.f32 && !ref.sha256) continue;
      const got = await src.readF32(name);
      if (ref.f32) expect([name, firstDiff(got, f32(ref.f32))]).toEqual([name, -1]);
      else expect([name, sha256(got)]).toEqual([name, ref.sha256]);
    }
  } finally {
    await src.close();
  }
}

/** openWeights and every layer read, on this thread (loadWeights does the same on the loader thread: used
 *  below where that path is what is checked, since each new loader thread compiles the library under ts-jest). */
async function load(file: string): Promise<LoadedWeights> {
  const r = await openWeights(file);
  try {
    const weights = [];
    for (let i = 0; i < weightShapes(r.config).length; i++) weights.push(await r.read(i));
    const { read: _read, close: _close, ...meta } = r;
    return { ...meta, weights };
  } finally {
    await r.close();
  }
}

/** A model built from `w` run on the reference input: logits within 1e-4 of torch's, relative to their range. */
async function expectSameForward(w: LoadedWeights, ref: ForwardRef): Promise<number> {
  const model = await Model.create(w.config, w.weights, { device: 'cpu' });
  try {
    const y = await model.forward(new Tensor(ref.shape, f32(ref.input)));
    const err = maxRelErr(y.data, f32(ref.logits));
    expect(err).toBeLessThan(1e-4);
    return err;
  } finally {
    model.dispose();
  }
}

async function expectError(p: Promise<unknown>, cls: new (m: string) => Error, re: RegExp): Promise<Error> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(cls);
  expect((err as VggError).code).toBe(cls === FormatError ? 'ERR_VGG_FORMAT' : 'ERR_VGG_UNSUPPORTED');
  expect((err as Error).message).toMatch(re);
  return err as Error;
}

let dir: string;
let seq = 0;
const tmp = (name: string) => path.join(dir, `${++seq}-${name}`);
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-pth-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('committed fixtures (real torch.save files, read without torch)', () => {
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tiny.json'), 'utf8')) as {
    tensors: Record<string, TensorRef>;
    forward: ForwardRef;
  };
  test.each(['tiny_bn-zip.pth', 'tiny_bn-legacy.pth'])(
    '%s: tensors bit-exact, BN folded, logits as torch',
    async (f) => {
      const file = path.join(FIXTURES, f);
      await expectSameTensors(file, ref.tensors);
      const w = await loadWeights(file);
      expect([w.format, w.source, w.batchNormFolded]).toEqual(['pytorch', 'torchvision', true]);
      expect(w.config).toMatchObject({ inChannels: 3, inputSize: 8, stages: [[4], [6]], fc: [10], numClasses: 3 });
      await expectSameForward(w, ref.forward);
    },
  );
});

describe('a real archive bent in place', () => {
  /** tiny_bn-zip.pth with the element count of its first storage (features.0.weight: 108 floats) set to n: the
   *  pickle's ('storage', FloatStorage, '0', 'cpu', 108) ends "X\x03\0\0\0cpu" BINPUT k, BININT1 108. */
  const withNumel = (n: number) => {
    const b = new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'tiny_bn-zip.pth')));
    const cpu = findSub([...b], [0x58, 3, 0, 0, 0, 0x63, 0x70, 0x75]);
    expect([b[cpu + 8], b[cpu + 10], b[cpu + 11]]).toEqual([0x71, 0x4b, 108]);
    b[cpu + 11] = n;
    const f = tmp('numel.pth');
    fs.writeFileSync(f, b);
    return f;
  };
  test('a storage larger than its record, and a view larger than its storage: FormatError naming both', async () => {
    await expectError(
      openWeights(withNumel(109)),
      FormatError,
      /record 'tiny_bn-zip\/data\/0' holds 432 bytes; the pickle's storage '0' is 436 bytes of float32 \(the storage of tensor 'features\.0\.weight'\)/,
    );
    await expectError(
      openWeights(withNumel(107)),
      FormatError,
      /a view \(offset 0, size \[4,3,3,3\], stride \[27,9,3,1\]\) reaches element 107 of storage '0', which holds 107 elements/,
    );
  });
});

describe('files written by torch.save', () => {
  let manifest: Manifest;
  const out = () => path.join(dir, 'torch');
  const file = (name: string) => path.join(out(), name);
  beforeAll(() => {
    if (missing) return;
    runPython(SCRIPT, [out(), ...(BIG ? [] : ['--no-big'])]);
    manifest = JSON.parse(fs.readFileSync(file('manifest.json'), 'utf8')) as Manifest;
  }, 300_000);

  const small = [
    'small-zip.pth',
    'small-legacy.pth',
    'small_bn-zip.pth',
    'small_bn-legacy.pth',
    'small-f16-zip.pth',
    'small-f16-legacy.pth',
    'small-bf16-zip.pth',
    'small-dataparallel-zip.pth',
    'small-checkpoint-zip.pth',
    'small-checkpoint-legacy.pth',
    'small-params-zip.pth',
    'small-views-zip.pth',
    'small-views-legacy.pth',
    'small-p4-zip.pth',
    'small-v1-legacy.pth',
    'small-zip64.pth',
  ];
  withTorch.each(small)('%s: every tensor bit-exact with torch.load', async (name) => {
    await expectSameTensors(file(name), manifest.files[name].tensors!);
  });

  withTorch(
    "the layers: one architecture from every variant; wrappers, views and shared storages give torch's values",
    async () => {
      const plain = await loadWeights(file('small-zip.pth'));
      expect(plain.config).toMatchObject({
        name: 'custom',
        inputSize: 16,
        stages: [[8], [12, { channels: 12, kernel: 1 }]],
      });
      expect([plain.format, plain.source, plain.batchNormFolded]).toEqual(['pytorch', 'torchvision', false]);
      const same = [
        'small-legacy.pth',
        'small-dataparallel-zip.pth', // 'module.' prefixes
        'small-params-zip.pth', // nn.Parameters under 'model_state_dict'
        'small-p4-zip.pth',
        'small-v1-legacy.pth',
        'small-zip64.pth',
        'small-big-endian-zip.pth', // storages byte-swapped, 'byteorder' says 'big'
      ];
      for (const name of same) {
        const w = await load(file(name));
        expect([name, w.config]).toEqual([name, plain.config]);
        w.weights.forEach((l, i) => {
          const diff = [firstDiff(l.weight, plain.weights[i].weight), firstDiff(l.bias, plain.weights[i].bias)];
          expect([name, i, diff]).toEqual([name, i, [-1, -1]]);
        });
      }
      // Channels-last convs, a transposed FC6, FC7 and FC8 in one storage at offsets, an expanded bias.
      const modules = ['features.0', 'features.3', 'features.5', 'classifier.0', 'classifier.3', 'classifier.6'];
      for (const name of ['small-views-zip.pth', 'small-views-legacy.pth']) {
        const ref = manifest.files[name].tensors!;
        const w = await load(file(name));
        w.weights.forEach((l, i) => {
          const diff = [
            firstDiff(l.weight, f32(ref[`${modules[i]}.weight`].f32!)),
            firstDiff(l.bias, f32(ref[`${modules[i]}.bias`].f32!)),
          ];
          expect([name, i, diff]).toEqual([name, i, [-1, -1]]);
        });
      }
      const bn = await load(file('small-checkpoint-legacy.pth')); // 'state_dict' holding features.module.N
      expect([bn.config.name, bn.batchNormFolded]).toEqual(['custom_bn', true]);
      const half = await load(file('small-f16-legacy.pth'));
      expect([half.config, half.weights[0].weight[0]]).toEqual([
        plain.config,
        f32(manifest.files['small-f16-legacy.pth'].tensors!['features.0.weight'].f32!)[0],
      ]);
    },
  );

  withTorch.each(['small', 'small_bn'])('forward of %s matches torch (≤ 1e-4 relative)', async (name) => {
    const ref = manifest.forward[name];
    await expectSameForward(await load(file(ref.file!)), ref);
  });

  withTorch('refused: pickled calls to os.system, builtins.eval, builtins.getattr; nothing runs', async () => {
    const cases: [string, RegExp][] = [
      ['evil-system-zip.pth', /refused pickle global 'posix\.system'.*nothing in the file is ever run/],
      ['evil-system-legacy.pth', /refused pickle global 'posix\.system'/],
      ['evil-eval-zip.pth', /refused pickle global 'builtins\.eval'/],
      ['evil-eval-legacy.pth', /refused pickle global 'builtins\.eval'/],
      ['evil-getattr-legacy.pth', /refused pickle global 'builtins\.getattr'/],
    ];
    for (const [name, re] of cases) {
      await expectError(loadWeights(file(name)), UnsupportedError, re);
      expect([name, manifest.files[name].weights_only]).toEqual([name, false]); // torch refuses them too
    }
    expect(fs.existsSync(file('PWNED'))).toBe(false);
  });

  withTorch('whole models and TorchScript: refused, saying to save the state_dict', async () => {
    const whole =
      /refused pickle global '(__main__\.SmallVGG|torchvision\.models\.vgg\.VGG)'.*torch\.save\(model\.state_dict\(\), path\)/;
    for (const name of ['model-zip.pth', 'model-legacy.pth', 'vggmodel-legacy.pth'])
      await expectError(loadWeights(file(name)), UnsupportedError, whole);
    await expectError(loadWeights(file('vggmodel-legacy.pth')), UnsupportedError, /torchvision\.models\.vgg\.VGG/);
    await expectError(
      loadWeights(file('torchscript.pth')),
      UnsupportedError,
      /TorchScript archive \(torch\.jit\.save\)/,
    );
  });

  withTorch('f64 and integer weights: UnsupportedError naming the tensor and its dtype', async () => {
    await expectError(
      loadWeights(file('small-f64-zip.pth')),
      UnsupportedError,
      /tensor 'features\.0\.weight' has dtype float64/,
    );
    await expectError(
      loadWeights(file('small-int-zip.pth')),
      UnsupportedError,
      /tensor 'features\.3\.weight' has dtype int32/,
    );
  });

  withTorch('broken archives: a missing storage (its tensor named), no data.pkl, deflated records', async () => {
    await expectError(
      loadWeights(file('zip-missing-storage.pth')),
      FormatError,
      /record '.*\/data\/2' is missing.*tensor 'features\.3\.weight'/,
    );
    await expectError(loadWeights(file('zip-no-data-pkl.pth')), FormatError, /no record '.*\/data\.pkl'/);
    await expectError(loadWeights(file('zip-deflated.pth')), UnsupportedError, /is compressed \(method 8\)/);
  });

  withTorch('every truncation of a zip and a legacy file is a FormatError', async () => {
    const kinds = async (name: string) => {
      const bytes = new Uint8Array(fs.readFileSync(file(name)));
      const f = tmp('cut.pth');
      const seen = new Set<string>();
      for (let n = 16; n < bytes.length; n += 211) {
        fs.writeFileSync(f, bytes.subarray(0, n));
        const err = await openWeights(f).then(
          () => null,
          (e: unknown) => e,
        );
        expect([name, n, err instanceof FormatError]).toEqual([name, n, true]);
        const m = /not a readable zip|truncated|past the end of the file/.exec((err as Error).message);
        seen.add(m ? m[0] : (err as Error).message);
      }
      return [...seen].sort();
    };
    // A cut zip loses its central directory; a cut legacy file loses pickle bytes or storage bytes.
    expect(await kinds('small-zip.pth')).toEqual(['not a readable zip']);
    expect(await kinds('small-legacy.pth')).toEqual(['past the end of the file', 'truncated']);
    await expectError(
      loadWeights(writeCut(file('small-legacy.pth'), -5)),
      FormatError,
      /storage '\d+' \(\d+ bytes at offset \d+\) ends past the end of the file \(\d+ bytes\): truncated \(the storage of tensor '[\w.]+'\)/,
    );
  });

  const big = [
    ['vgg11', 'vgg11-zip.pth'],
    ['vgg11', 'vgg11-legacy.pth'],
    ['vgg11_bn', 'vgg11_bn-zip.pth'],
    ['vgg11_bn', 'vgg11_bn-legacy.pth'],
  ];
  const withBig = testIf(
    missing === null && BIG,
    missing ?? 'the four 531 MB torchvision files were left out (VGGNET_PTH_BIG=0)',
  );
  withBig.each(big)(
    'torchvision %s, %s: every tensor bit-exact (SHA-256 of 531 MB)',
    async (arch, name) => {
      await expectSameTensors(file(name), manifest.files[name].tensors!);
      expect((await openWeights(file(name))).config.name).toBe(arch);
    },
    120_000,
  );

  withBig(
    'torchvision vgg11_bn through loadClassifier (streamed, BN folded): logits as torchvision (≤ 1e-4)',
    async () => {
      const ref = manifest.forward.vgg11_bn;
      const c = await loadClassifier(file(ref.file!), { device: 'cpu' });
      try {
        expect([c.source, c.model.config.name]).toEqual(['torchvision', 'vgg11_bn']);
        const y = await c.model.forward(new Tensor(ref.shape, f32(ref.input)));
        expect(maxRelErr(y.data, f32(ref.logits))).toBeLessThan(1e-4);
      } finally {
        c.model.dispose();
      }
    },
    120_000,
  );
});

/** A copy of `src` cut by `delta` bytes (negative: from the end). */
function writeCut(src: string, delta: number): string {
  const b = new Uint8Array(fs.readFileSync(src));
  const f = tmp('cut-end.pth');
  fs.writeFileSync(f, b.subarray(0, b.length + delta));
  return f;
}

describe('hand-built hostile pickles (legacy layout, support/pickle.ts)', () => {
  const w = (n: number, salt = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + salt));
  const spec = (over: Partial<TensorSpec> = {}): TensorSpec => ({
    name: 'features.0.weight',
    key: '0',
    numel: 24,
    size: [2, 3, 2, 2],
    ...over,
  });
  const write = (bytes: Uint8Array | Bytes) => {
    const f = tmp('hostile.pth');
    fs.writeFileSync(f, bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
    return f;
  };
  const oneTensor = (t: TensorSpec, storages: StorageData[] = [{ key: t.key, data: w(t.numel) }]) =>
    write(legacyFile(pickle(stateDictBody([t])), storages));

  test('a well-formed hand-built file reads back exactly (the assembler is sound)', async () => {
    const src = await openPthTensors(oneTensor(spec()));
    expect(firstDiff(await src.readF32('features.0.weight'), w(24))).toBe(-1);
    await src.close();
  });

  test('views: offset and strides read as torch would; a view past its storage is refused', async () => {
    // A transposed 3×4 view of 14 elements at offset 2: element [i, j] = storage[2 + i + 3·j].
    const t = spec({ numel: 14, offset: 2, size: [3, 4], stride: [1, 3] });
    const src = await openPthTensors(oneTensor(t));
    const want = Float32Array.from({ length: 12 }, (_, k) => w(14)[2 + Math.floor(k / 4) + 3 * (k % 4)]);
    expect(firstDiff(await src.readF32('features.0.weight'), want)).toBe(-1);
    await src.close();
    await expectError(
      openPthTensors(oneTensor({ ...t, offset: 3 })),
      FormatError,
      /reaches element 14 of storage '0', which holds 14 elements/,
    );
    await expectError(
      openPthTensors(oneTensor(spec({ size: [2, 3, 2, 3] }))),
      FormatError,
      /reaches element 35 of storage '0'/,
    );
  });

  test('the count before a storage must match the pickle; storages past the end; keys not named', async () => {
    await expectError(
      openPthTensors(oneTensor(spec(), [{ key: '0', data: w(24), count: 23 }])),
      FormatError,
      /storage '0' at offset \d+ says 23 elements; the state pickle says 24 of float32.*tensor 'features\.0\.weight'/,
    );
    await expectError(
      openPthTensors(oneTensor(spec(), [{ key: '0', data: w(20), count: 24 }])),
      FormatError,
      /ends past the end of the file.*truncated/,
    );
    await expectError(
      openPthTensors(write(legacyFile(pickle(stateDictBody([spec()])), [], ['9']))),
      FormatError,
      /storage key '9' is listed but the state pickle names no such storage/,
    );
    await expectError(
      openPthTensors(write(legacyFile(pickle(stateDictBody([spec()])), [], []))),
      FormatError,
      /storage '0' has no data/,
    );
  });

  test('refused globals and opcodes, wherever they appear', async () => {
    const main = (...body: Bytes[]) => write(legacyFile(pickle(...body), []));
    await expectError(
      openPthTensors(main(op.global('os', 'system'), op.str('id'), op.tuple1, op.reduce)),
      UnsupportedError,
      /refused pickle global 'os\.system'/,
    );
    await expectError(
      openPthTensors(main(op.global('subprocess', 'Popen'))),
      UnsupportedError,
      /refused pickle global 'subprocess\.Popen'/,
    );
    await expectError(openPthTensors(main(op.global('__builtin__', 'eval'))), UnsupportedError, /'builtins\.eval'/);
    // STACK_GLOBAL (protocol 4) goes through the same allow-list.
    const stackGlobal = [0x8c, 5, ...Buffer.from('posix'), 0x8c, 6, ...Buffer.from('system'), 0x93];
    await expectError(openPthTensors(main(stackGlobal)), UnsupportedError, /'posix\.system'/);
    // INST builds any class by name: refused as an opcode.
    await expectError(
      openPthTensors(main(op.mark, [0x69, ...Buffer.from('os\nsystem\n')])),
      UnsupportedError,
      /pickle opcode INST \(0x69\).*refused/,
    );
    await expectError(openPthTensors(main([0xff])), FormatError, /not a pickle opcode \(pickle opcode 0xff/);
    // Allowed globals used otherwise than torch.save uses them.
    await expectError(
      openPthTensors(main(op.global('collections', 'OrderedDict'), op.int(5), op.tuple1, op.reduce)),
      FormatError,
      /OrderedDict: cannot be made from a int/,
    );
    await expectError(
      openPthTensors(main(op.global('torch', 'float32'), op.emptyTuple, op.reduce)),
      FormatError,
      /torch\.float32 is not callable/,
    );
    await expectError(
      openPthTensors(main(op.emptyDict, op.str('x'), op.tuple1, op.binpersid)),
      FormatError,
      /persistent id: expected \('storage'/,
    );
    await expectError(
      openPthTensors(main(op.emptyList, op.emptyDict, op.build)),
      FormatError,
      /BUILD of a list: only tensors, Parameters and OrderedDicts are built/,
    );
  });

  test('deep nesting, memo abuse and cycles: bounded, never a stack overflow or a hang', async () => {
    const main = (...body: Bytes[]) => write(legacyFile(pickle(...body), []));
    // 200 000 nested tuples (a recursive reader would overflow its stack): the result is no state dict.
    await expectError(
      openPthTensors(write(legacyFile(repeated(op.none, 0x85, 2e5), []))),
      FormatError,
      /no state dict found: the file holds a tuple/,
    );
    await expectError(
      openPthTensors(main(new Array<number>(300).fill(0x28))),
      FormatError,
      /MARKs nested more than 256 deep/,
    );
    // A memo index never stored; 2^20 + 1 values; a list holding itself; a 1000-way DAG 20 levels deep (1000^20
    // paths: anything that walked it would never end).
    await expectError(openPthTensors(main(op.binget(7))), FormatError, /memo index 7 was never stored/);
    await expectError(
      openPthTensors(write(legacyFile(repeated([], 0x4e, (1 << 20) + 1), []))),
      FormatError,
      /more than 1048576 values/,
    );
    const cycle = [
      ...op.emptyDict,
      ...op.str('a'),
      ...op.emptyList,
      ...op.binput(0),
      ...op.binget(0),
      ...op.append,
      ...op.setitem,
    ];
    await expectError(openPthTensors(main(cycle)), FormatError, /no state dict found.*keys 'a'/);
    const dag: Bytes = [...op.emptyList, ...op.longBinput(0), ...op.pop];
    for (let level = 1; level <= 20; level++)
      dag.push(
        ...op.emptyList,
        ...op.mark,
        ...new Array<Bytes>(1000).fill(op.longBinget(level - 1)).flat(),
        ...op.appends,
        ...op.longBinput(level),
        ...op.pop,
      );
    await expectError(
      openPthTensors(main(op.emptyDict, op.str('a'), dag, op.longBinget(20), op.setitem)),
      FormatError,
      /no state dict found/,
    );
    // Lengths past the data are refused before anything is allocated.
    await expectError(
      openPthTensors(main([0x58, 0xff, 0xff, 0xff, 0x7f])),
      FormatError,
      /truncated: needs 2147483647 more bytes/,
    );
  });

  test('not a state dict: a list, a dict without tensors, non-string keys', async () => {
    await expectError(
      openPthTensors(write(legacyFile(pickle(op.emptyList), []))),
      FormatError,
      /holds a list; expected model\.state_dict\(\)/,
    );
    const epoch = pickle(op.emptyDict, op.str('epoch'), op.int(3), op.setitem);
    await expectError(openPthTensors(write(legacyFile(epoch, []))), FormatError, /keys 'epoch' and no tensors/);
    const t = spec();
    const body = stateDictBody([t]);
    const at = findSub(body, op.str(t.name));
    body.splice(at, op.str(t.name).length, ...op.int(3)); // the key 'features.0.weight' replaced by 3
    await expectError(
      openPthTensors(write(legacyFile(pickle(body), [{ key: '0', data: w(24) }]))),
      FormatError,
      /a state dict key is a int, not a str/,
    );
  });

  test('a plain pickle (not torch.save), a wrong protocol version, garbage after the magic', async () => {
    await expectError(
      openPthTensors(write(pickle(op.emptyDict))),
      FormatError,
      /not a PyTorch file: its first pickle is a dict/,
    );
    const wrong = [...pickle(op.long(0x1950a86a20f9469cfc6cn)), ...pickle(op.int(1000))];
    await expectError(openPthTensors(write(wrong)), FormatError, /protocol version 1000, expected 1001/);
    await expectError(
      openPthTensors(write([...pickle(op.long(0x1950a86a20f9469cfc6cn)), 0x80, 0x02, 0x4b])),
      FormatError,
      /truncated/,
    );
  });
});

function findSub(hay: number[], needle: number[]): number {
  for (let i = 0; i + needle.length <= hay.length; i++) if (needle.every((b, j) => hay[i + j] === b)) return i;
  throw new Error('not found');
}
