// A whole vgg11 forward (random weights, seed 1; a fixed input [1,3,224,224]; FC head) with the vggnet the
// current folder's app has installed, on its best CPU kernel family. Writes the 1000 logits as raw f32 to
// argv[2] and prints the family and the binary. .ci/packages compares linux-arm64 (under qemu) with x64.
'use strict';
const fs = require('fs');
const { Model, Tensor, backends } = require('vggnet');

const n = 3 * 224 * 224;
const x = new Float32Array(n);
for (let i = 0; i < n; ++i) x[i] = Math.sin(i * 0.001) * 2;
const model = Model.randomSync('vgg11', 1, { device: 'cpu' });
const y = model.forwardSync(new Tensor([1, 3, 224, 224], x));
fs.writeFileSync(process.argv[2], Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
const r = backends();
console.log(`vgg11 forward on ${process.arch}: ${r.cpu.kernelFamily} (${r.binary}), logits [${y.dims}]`);
model.dispose();
