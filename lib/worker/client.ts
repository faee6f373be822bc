/**
 * The loader thread, seen from the main thread: heavy JS (ONNX protobuf decoding, safetensors reading and
 * widening, batch norm folding, random weight generation) runs on one worker_thread, started on first use
 * and ended after IDLE_MS without work, so the event loop stays free. Results come back with their
 * Float32Arrays transferred (no copy); errors come back as the same classes with the same codes.
 *
 * The thread runs thread.ts: the compiled dist/worker/thread.js in a build, or, when the library itself
 * runs from TypeScript sources (ts-jest), the .ts sources transpiled on load with the `typescript` package.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';

import * as errors from '../errors';
import type { TaskName } from './tasks';

const IDLE_MS = 1000;

/** Runs in the new thread: a require hook for .ts sources when needed, then thread.ts/js. */
const BOOT = `
const { workerData } = require('worker_threads');
if (workerData.entry.endsWith('.ts')) {
  const fs = require('fs');
  const ts = require(require.resolve('typescript', { paths: [workerData.dir] }));
  const compilerOptions = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
  require.extensions['.ts'] = (m, filename) => {
    const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), { fileName: filename, compilerOptions });
    m._compile(out.outputText, filename);
  };
}
require(workerData.entry);
`;

interface Pending {
  resolve: (r: IteratorResult<unknown>) => void;
  reject: (e: unknown) => void;
}

let worker: Worker | null = null;
let nextId = 1;
const pending = new Map<number, Pending>();
/** Tasks started and not finished (the thread holds their state, e.g. an open file, between requests). */
const open = new Set<number>();
let idle: NodeJS.Timeout | null = null;

/** Error classes by name, to revive a worker's error as the class it was thrown as. */
const CLASSES: Record<string, new (message: string) => Error> = {
  InvalidArgumentError: errors.InvalidArgumentError,
  UnsupportedError: errors.UnsupportedError,
  DeviceError: errors.DeviceError,
  FormatError: errors.FormatError,
  DisposedError: errors.DisposedError,
  NativeLoadError: errors.NativeLoadError,
  MemoryBudgetError: errors.MemoryBudgetError,
  TypeError,
  RangeError,
};

function revive(e: { name: string; code?: string; message: string }): Error {
  const Cls = Object.prototype.hasOwnProperty.call(CLASSES, e.name) ? CLASSES[e.name] : Error;
  const err = new Cls(e.message);
  if (Cls === Error && e.code) Object.assign(err, { code: e.code });
  return err;
}

function failAll(e: unknown): void {
  const all = [...pending.values()];
  pending.clear();
  open.clear();
  worker = null;
  for (const p of all) p.reject(e);
}

function thread(): Worker {
  if (idle) clearTimeout(idle);
  idle = null;
  if (worker) return worker;
  const entry = path.join(__dirname, `thread${path.extname(__filename)}`);
  const w = new Worker(BOOT, { eval: true, workerData: { entry, dir: __dirname } });
  w.on('message', (m: { id: number; done?: boolean; value?: unknown; error?: { name: string; message: string } }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    settle();
    if (m.error) p.reject(revive(m.error));
    else p.resolve({ done: !!m.done, value: m.value } as IteratorResult<unknown>);
  });
  w.on('error', (e) => {
    if (worker === w) failAll(new Error(`vggnet loader thread failed: ${e.message}`));
  });
  w.on('exit', (code) => {
    if (worker === w) failAll(new Error(`vggnet loader thread exited (code ${code})`));
  });
  worker = w;
  return w;
}

/** Holds the process open while replies are awaited; ends the thread once it holds no task for IDLE_MS. */
function settle(): void {
  if (!worker) return;
  if (pending.size > 0) {
    worker.ref();
    return;
  }
  worker.unref();
  if (idle) clearTimeout(idle);
  idle = null;
  if (open.size > 0) return;
  const w = worker;
  idle = setTimeout(() => {
    if (worker === w && pending.size === 0 && open.size === 0) {
      worker = null;
      void w.terminate();
    }
  }, IDLE_MS);
  idle.unref();
}

function request(id: number, op: 'next' | 'return'): Promise<IteratorResult<unknown>> {
  const w = thread();
  return new Promise((resolve, reject) => {
    if (op === 'next') pending.set(id, { resolve, reject });
    w.postMessage({ id, op });
    settle();
    if (op === 'return') resolve({ done: true, value: undefined });
  });
}

/**
 * Starts `task` (tasks.ts TASKS) on the loader thread with `args` (structured-cloned) and returns its items
 * as an async iterator: each next() asks the thread for one more item, so the thread never runs ahead of
 * the consumer. return() ends the task early (its files are closed). Errors thrown by the task reject
 * next() as the same error class, with the same code and message.
 */
export function workerStream<T>(task: TaskName, args: unknown): AsyncIterableIterator<T> {
  const id = nextId++;
  let started = false;
  let finished = false;
  const start = () => {
    if (started) return;
    started = true;
    open.add(id);
    thread().postMessage({ id, op: 'start', task, args });
  };
  const end = () => {
    finished = true;
    if (open.delete(id)) settle();
  };
  const it: AsyncIterableIterator<T> = {
    async next() {
      if (finished) return { done: true, value: undefined };
      start();
      try {
        const r = (await request(id, 'next')) as IteratorResult<T>;
        if (r.done) end();
        return r;
      } catch (e) {
        end();
        throw e;
      }
    },
    async return() {
      if (started && !finished && worker) await request(id, 'return');
      end();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}
