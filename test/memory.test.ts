// Memory bounds (issue 9): what a forward needs is known before running, a budget refuses a forward before
// anything is allocated, one arena serves every input shape, and several models share one CPU thread pool.
import { spawnSync } from 'child_process';
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

// Nice value of each thread of this process (Linux /proc; the fields after the command name, which may hold
// spaces: nice is field 19 of stat, the 17th after the ')').
function niceOfThreads(): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of fs.readdirSync('/proc/self/task')) {
    try {
      const s = fs.readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      out.set(Number(t), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return out;
}

/** CAP_SYS_NICE (bit 23) in this process's effective capabilities: it may raise a thread's priority back. */
function mayRaisePriority(): boolean {
  const m = /^CapEff:\s+([0-9a-f]+)/m.exec(
    fs.existsSync('/proc/self/status') ? fs.readFileSync('/proc/self/status', 'utf8') : '',
  );
  return !!m && (BigInt(`0x${m[1]}`) & (1n << 23n)) !== 0n;
}

describe('compute threads run below the event loop (native/core/thread_priority.h)', () => {
  const linux = fs.existsSync('/proc/self/task');
  testIf(linux, 'needs /proc/self/task (Linux)')(
    'the pool workers run 5 nice levels below the process; the threads it had are unchanged after forwards',
    async () => {
      const base = niceOfThreads().get(process.pid)!;
      const before = niceOfThreads();
      const m = await Model.random(tiny, 1, { device: 'cpu', threads: 3 });
      await m.forward(input([2, 3, 32, 32]));
      await m.forward(input([2, 3, 32, 32]));
      const after = niceOfThreads();
      // New threads: the pool's 2 workers at base + 5 (and the loader thread, base + 10, if it is new).
      const fresh = [...after].filter(([tid]) => !before.has(tid)).map(([, nice]) => nice);
      expect(fresh.filter((n) => n !== Math.min(19, base + 10))).toEqual([
        Math.min(19, base + 5),
        Math.min(19, base + 5),
      ]);
      for (const [tid, nice] of before) if (after.has(tid)) expect([tid, after.get(tid)]).toEqual([tid, nice]);
      m.dispose();
    },
  );

  testIf(linux && mayRaisePriority(), 'needs CAP_SYS_NICE to raise a borrowed thread back (else it is not lowered)')(
    'the libuv thread running a forward is lowered while it computes, then restored',
    async () => {
      const base = niceOfThreads().get(process.pid)!;
      const m = await Model.random(vgg16Convs, 1, { device: 'cpu', threads: 1 }); // the caller computes alone
      const before = niceOfThreads();
      const running = m.forward(input([1, 3, 224, 224]), { mode: 'dense' });
      let lowered = 0;
      for (let i = 0; i < 200 && lowered === 0; i++) {
        await new Promise((r) => setTimeout(r, 2));
        lowered = [...niceOfThreads()].filter(([tid, n]) => before.get(tid) === base && n === base + 5).length;
      }
      await running;
      expect(lowered).toBe(1);
      const after = niceOfThreads();
      for (const [tid, nice] of before) if (after.has(tid)) expect([tid, after.get(tid)]).toEqual([tid, nice]);
      m.dispose();
    },
  );

  testIf(linux && fs.existsSync(`${__dirname}/../dist/index.js`), 'needs /proc (Linux) and dist/ (npm run build)')(
    'VGGNET_COMPUTE_NICE sets how far the pool workers run below the process; 0: not at all',
    () => {
      const code = `
        const v = require(${JSON.stringify(`${__dirname}/../dist`)});
        const fs = require('fs');
        (async () => {
          const m = await v.Model.random(${JSON.stringify(tiny)}, 1, { device: 'cpu', threads: 3 });
          const nice = fs.readdirSync('/proc/self/task').map((t) => {
            const s = fs.readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
            return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]);
          });
          process.stdout.write(JSON.stringify([...new Set(nice)]));
          m.dispose();
        })();`;
      // The loader thread (weights generated and packed) runs at nice 10 either way: native/core/thread_priority.h.
      for (const [env, want] of [
        ['0', [0, 10]],
        ['3', [0, 10, 3]],
      ] as const) {
        const r = spawnSync(process.execPath, ['-e', code], {
          encoding: 'utf8',
          env: { ...process.env, VGGNET_COMPUTE_NICE: env },
        });
        expect(r.status).toBe(0);
        expect((JSON.parse(r.stdout) as number[]).sort((a, b) => a - b)).toEqual([...want].sort((a, b) => a - b));
      }
    },
  );
});
