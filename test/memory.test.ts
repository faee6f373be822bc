// Memory bounds (issue 9): what a forward needs is known before running, a budget refuses a forward before
// anything is allocated, one arena serves every input shape, and several models share one CPU thread pool.
import * as fs from 'fs';
import * as os from 'os';

import { ARCHS, MemoryBudgetError, Model, Tensor, VggConfig } from '../lib';
import { fillUniform } from '../lib/random';
import { tiny } from './support/configs';
import { testIf } from './support/skip';

const prod = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);
const input = (dims: number[], seed = 1) => new Tensor(dims, fillUniform(new Float32Array(prod(dims)), -1, 1, seed));

/** vgg16's thirteen convolutions (Table 1, D) under a small FC head: the activations of the real network. */
const vgg16Convs: VggConfig = { ...ARCHS.vgg16, name: 'vgg16-convs', fc: [8], numClasses: 4 };

describe('planMemory: what a forward needs, without running', () => {
  test('activations, workspace and staging agree with the per-layer plan', async () => {
    const m = await Model.random(tiny, 1, { device: 'cpu' });
    for (const [dims, mode] of [
      [[1, 3, 32, 32], 'fc'],
      [[3, 3, 64, 48], 'dense'],
    ] as const) {
      const plan = m.plan(dims, mode);
      const mem = m.planMemory(dims, mode);
      const maxAct = Math.max(...plan.slice(0, -1).map((p) => prod(p.output)));
      expect(mem.activations).toBe(2 * maxAct * 4);
      expect(mem.workspace).toBe(Math.max(...plan.map((p) => p.workspaceBytes)));
      expect(mem.staging).toBe((prod(dims) + prod(plan[plan.length - 1].output)) * 4);
      expect(mem.total).toBe(mem.activations + mem.workspace + mem.staging);
    }
    m.dispose();
  });

  test("vgg16's convolutions at 8192×8192 need 2 × 16 GiB of activations: over the default budget of this host", async () => {
    const m = await Model.random(vgg16Convs, 1, { device: 'cpu' });
    const mem = m.planMemory([1, 3, 8192, 8192], 'dense');
    expect(mem.activations).toBe(2 * 64 * 8192 * 8192 * 4); // conv1_x output, 64 channels at full size
    expect(m.info().memoryBudget).toBe(Math.floor(os.totalmem() / 2));
    if (mem.total > m.info().memoryBudget) {
      // The refusal comes before the input is copied and before any allocation: the process stays small.
      const x = new Tensor([1, 3, 8192, 8192], new Float32Array(3 * 8192 * 8192));
      await expect(m.forward(x, { mode: 'dense' })).rejects.toThrow(MemoryBudgetError);
      expect(m.info().arenaBytes).toBe(0);
    }
    m.dispose();
  });
});

describe('the memory budget', () => {
  test('a forward over the budget is refused with a coded error naming both sizes; nothing is allocated', async () => {
    const probe = await Model.random(tiny, 1, { device: 'cpu' });
    const budget = probe.planMemory([1, 3, 32, 32]).total;
    const need2 = probe.planMemory([2, 3, 32, 32]).total;
    probe.dispose();
    const m = await Model.random(tiny, 1, { device: 'cpu', memoryBudget: budget });
    expect(m.info().memoryBudget).toBe(budget);
    const err = await m.forward(input([2, 3, 32, 32])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MemoryBudgetError);
    expect((err as MemoryBudgetError).code).toBe('ERR_VGG_MEMORY_BUDGET');
    expect((err as Error).message).toContain(`needs ${need2} bytes`);
    expect((err as Error).message).toContain(`memory budget of ${budget} bytes`);
    expect(() => m.forwardSync(input([2, 3, 32, 32]))).toThrow(MemoryBudgetError);
    expect(m.info().arenaBytes).toBe(0);
    const y = await m.forward(input([1, 3, 32, 32])); // exactly the budget: runs
    expect(y.dims).toEqual([1, 7]);
    expect(m.info().arenaBytes).toBe(budget);
    m.dispose();
  });

  test('Infinity lifts the budget', async () => {
    const m = await Model.random(tiny, 1, { device: 'cpu', memoryBudget: Infinity });
    expect(m.info().memoryBudget).toBe(Infinity);
    m.dispose();
  });
});

describe('one arena for every input shape', () => {
  test('smaller shapes reuse it; it shrinks after 8 forwards that need under half; releasePlans frees it', async () => {
    const m = await Model.random(tiny, 1, { device: 'cpu' });
    const small = input([1, 3, 32, 32], 2);
    const before = (await m.forward(small, { mode: 'dense' })).data;
    await m.forward(input([1, 3, 1024, 1024], 3), { mode: 'dense' });
    const big = m.planMemory([1, 3, 1024, 1024], 'dense').total;
    expect(big).toBeGreaterThan(64 << 20); // the arena only shrinks above 64 MiB
    expect(m.info().arenaBytes).toBe(big);
    for (let i = 0; i < 7; i++) {
      expect((await m.forward(small, { mode: 'dense' })).data).toEqual(before);
      expect(m.info().arenaBytes).toBe(big); // reused: no allocation for a shape that fits
    }
    await m.forward(small, { mode: 'dense' });
    expect(m.info().arenaBytes).toBe(m.planMemory([1, 3, 32, 32], 'dense').total);
    expect(m.info().plansCached).toBe(2);
    m.releasePlans();
    expect(m.info()).toMatchObject({ arenaBytes: 0, plansCached: 0 });
    expect((await m.forward(small, { mode: 'dense' })).data).toEqual(before);
    m.dispose();
    expect(() => m.releasePlans()).toThrow(/disposed/);
  });
});

// Once (this session): checkBudget, plan() and info() took the lock a running forward holds, so every call on
// the JS thread — including the scheduler's next submit — waited for the whole forward.
describe('nothing on the JS thread waits for a running forward', () => {
  test('plan, planMemory, info, a budget check and releasePlans return at once during a long forward', async () => {
    const m = await Model.random(tiny, 1, { device: 'cpu', threads: 1 });
    const x = input([1, 3, 1024, 1024], 4);
    const t0 = performance.now();
    await m.forward(x, { mode: 'dense' });
    const forwardMs = performance.now() - t0;
    const busy = m.forward(x, { mode: 'dense' });
    const t1 = performance.now();
    m.plan([1, 3, 999, 997], 'dense');
    m.planMemory([2, 3, 640, 480], 'dense');
    m.info();
    m.releasePlans();
    const callsMs = performance.now() - t1;
    expect(callsMs).toBeLessThan(forwardMs / 4);
    // releasePlans came while the forward ran (its arena is freed when it ends) or, if the pool thread had
    // not started it yet, before (the forward then allocates again): either way the result is right.
    expect((await busy).data).toEqual((await m.forward(x, { mode: 'dense' })).data);
    m.releasePlans();
    expect(m.info()).toMatchObject({ arenaBytes: 0, plansCached: 0 });
    m.dispose();
  });
});

// Threads of this process, from /proc (Linux).
const threadsNow = () => Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);

describe('one CPU thread pool per size, shared by the models of a process', () => {
  testIf(fs.existsSync('/proc/self/status'), 'needs /proc/self/status (Linux)')(
    'a second model of the same thread count starts no threads',
    async () => {
      const t0 = threadsNow();
      const a = await Model.random(tiny, 1, { device: 'cpu', threads: 5 });
      const t1 = threadsNow();
      expect(t1 - t0).toBe(4); // 4 workers + the calling thread
      const b = await Model.random(tiny, 2, { device: 'cpu', threads: 5 });
      expect(threadsNow()).toBe(t1);
      const c = await Model.random(tiny, 3, { device: 'cpu', threads: 6 });
      expect(threadsNow()).toBe(t1 + 5);
      // Both models of the shared pool compute correctly when their forwards interleave.
      const x = input([2, 3, 32, 32], 9);
      const alone = [a.forwardSync(x).data, b.forwardSync(x).data];
      const together = await Promise.all([a.forward(x), b.forward(x), a.forward(x), b.forward(x)]);
      expect(together.map((y) => y.data)).toEqual([alone[0], alone[1], alone[0], alone[1]]);
      for (const m of [a, b, c]) m.dispose();
    },
  );
});
