// The addon inside worker_threads (issue 11): each worker loads it in its own environment, runs models, and
// gets the same coded errors; several workers at once agree with the main thread bit for bit.
import * as path from 'path';
import { Worker } from 'worker_threads';

import { InvalidArgumentError, loadClassifier, Tensor } from '../lib';
import { packageRoot } from '../lib/native';
import { fillUniform } from '../lib/random';

const dist = path.join(packageRoot(), 'dist');

// Loads the embedded model in the worker, runs one forward on the input it is sent, then a bad call; posts
// the logits and the bad call's error class and code.
const WORKER = `
  const { parentPort, workerData } = require('worker_threads');
  const v = require(workerData.dist);
  (async () => {
    const c = await v.loadClassifier(undefined, { device: 'cpu', threads: 1 });
    const y = await c.model.forward(new v.Tensor([1, 1, 28, 28], workerData.x));
    let bad;
    try { await c.model.forward(new v.Tensor([1, 3, 28, 28], new Float32Array(3 * 28 * 28))); }
    catch (e) { bad = { name: e.constructor.name, code: e.code, isVggError: e instanceof v.VggError }; }
    c.model.dispose();
    parentPort.postMessage({ y: y.data, bad });
  })().catch((e) => parentPort.postMessage({ error: String(e && e.stack) }));
`;

function runWorker(x: Float32Array): Promise<{ y: Float32Array; bad: object; error?: string }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { dist, x } });
    w.once('message', (m) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

test('four workers at once: each loads the addon, forwards, and reports coded errors; results equal the main thread', async () => {
  const c = await loadClassifier(undefined, { device: 'cpu', threads: 1 });
  const inputs = [1, 2, 3, 4].map((s) => fillUniform(new Float32Array(28 * 28), 0, 1, s));
  const expected = await Promise.all(inputs.map((x) => c.model.forward(new Tensor([1, 1, 28, 28], x))));
  await expect(c.model.forward(new Tensor([1, 3, 28, 28], new Float32Array(3 * 28 * 28)))).rejects.toBeInstanceOf(
    InvalidArgumentError,
  );
  c.model.dispose();
  const got = await Promise.all(inputs.map((x) => runWorker(x)));
  got.forEach((g, i) => {
    expect(g.error).toBeUndefined();
    expect(g.y).toEqual(expected[i].data);
    expect(g.bad).toEqual({ name: 'InvalidArgumentError', code: 'ERR_VGG_INVALID_ARGUMENT', isVggError: true });
  });
}, 60000);
