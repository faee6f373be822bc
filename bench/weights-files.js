/**
 * vgg16-sized test files for the load benchmarks (bench/load.js, bench/load-ticks.js): fast He-scaled weights
 * and writers for the layouts users hold (torchvision-named safetensors, torchvision-style ONNX).
 * Usage: const { shapes, weights, writeTorchvision, writeOnnx } = require('./weights-files')(v, fillUniform, config);
 */
const fs = require('fs');
const { onnx } = require('onnx-proto');

module.exports = function weightsFiles(v, fillUniform, config) {
  const shapes = v.weightShapes(config);

  /** He-scaled uniform weights: a 65 537-long random block tiled (fast; values need not be independent here). */
  function weights() {
    return shapes.map((s, i) => {
      const [K, C, R, S] = s.weight;
      const a = Math.sqrt(6 / (C * R * S));
      const n = K * C * R * S;
      const w = new Float32Array(n);
      w.set(fillUniform(new Float32Array(Math.min(n, 65537)), -a, a, 2 * i + 1));
      for (let len = 65537; len < n; len *= 2) w.copyWithin(len, 0, Math.min(len, n - len));
      return { weight: w, bias: fillUniform(new Float32Array(K), -0.05, 0.05, 2 * i + 2) };
    });
  }

  /** torchvision names: features.{i} (Conv2d, ReLU per conv, MaxPool2d per stage), classifier.{0,3,6} as [out, in]. */
  function writeTorchvision(file, w) {
    const t = {};
    let i = 0;
    let l = 0;
    for (const stage of config.stages) {
      for (let j = 0; j < stage.length; j++, l++, i += 2) {
        t[`features.${i}.weight`] = { dtype: 'F32', shape: shapes[l].weight, data: w[l].weight };
        t[`features.${i}.bias`] = { dtype: 'F32', shape: shapes[l].bias, data: w[l].bias };
      }
      i += 1;
    }
    for (let j = 0; l < shapes.length; l++, j++) {
      const [K, C, R, S] = shapes[l].weight;
      t[`classifier.${3 * j}.weight`] = { dtype: 'F32', shape: [K, C * R * S], data: w[l].weight };
      t[`classifier.${3 * j}.bias`] = { dtype: 'F32', shape: [K], data: w[l].bias };
    }
    v.writeSafetensors(file, t);
  }

  /** As torchvision exports it: Conv+Relu, MaxPool, Flatten, Gemm(transB=1)+Relu, …, Gemm. */
  function writeOnnx(file, w) {
    const A = onnx.AttributeProto.AttributeType;
    const nodes = [];
    const inits = [];
    const init = (name, dims, data) =>
      inits.push({ name, dims, dataType: 1, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    let cur = 'x';
    let l = 0;
    const add = (opType, input, attribute = []) => {
      const out = `${opType.toLowerCase()}_${nodes.length}`;
      nodes.push({ name: out, opType, input, output: [out], attribute });
      cur = out;
    };
    for (const stage of config.stages) {
      for (let j = 0; j < stage.length; j++, l++) {
        const [, , R] = shapes[l].weight;
        const p = R === 3 ? 1 : 0;
        init(`w${l}`, shapes[l].weight, w[l].weight);
        init(`b${l}`, shapes[l].bias, w[l].bias);
        add(
          'Conv',
          [cur, `w${l}`, `b${l}`],
          [
            { name: 'kernel_shape', type: A.INTS, ints: [R, R] },
            { name: 'pads', type: A.INTS, ints: [p, p, p, p] },
          ],
        );
        add('Relu', [cur]);
      }
      add(
        'MaxPool',
        [cur],
        [
          { name: 'kernel_shape', type: A.INTS, ints: [2, 2] },
          { name: 'strides', type: A.INTS, ints: [2, 2] },
        ],
      );
    }
    add('Flatten', [cur], [{ name: 'axis', type: A.INT, i: 1 }]);
    for (; l < shapes.length; l++) {
      const [K, C, R, S] = shapes[l].weight;
      init(`w${l}`, [K, C * R * S], w[l].weight);
      init(`b${l}`, [K], w[l].bias);
      add('Gemm', [cur, `w${l}`, `b${l}`], [{ name: 'transB', type: A.INT, i: 1 }]);
      if (l < shapes.length - 1) add('Relu', [cur]);
    }
    const vi = (name, dims) => ({
      name,
      type: {
        tensorType: {
          elemType: 1,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: config.name,
        node: nodes,
        initializer: inits,
        input: [vi('x', ['N', config.inChannels, config.inputSize, config.inputSize])],
        output: [vi(cur, ['N', config.numClasses])],
      },
    });
    fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  }

  return { shapes, weights, writeTorchvision, writeOnnx };
};
