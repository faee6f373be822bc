/**
 * The loader thread's message loop (started by client.ts). Messages from the main thread:
 *   {id, op: 'start', task, args}  creates the task's generator (tasks.ts TASKS)
 *   {id, op: 'next'}               runs it to its next item: replies {id, done, value} with the value's
 *                                  whole-buffer Float32Arrays transferred, or {id, error} (its class name,
 *                                  code and message, revived as the same class on the main thread)
 *   {id, op: 'return'}             ends it early (its finally blocks run: files are closed)
 */
import { parentPort } from 'worker_threads';

import { native } from '../native';
import { useBlockingReads } from '../weights/safetensors';
import { TASKS, TaskName } from './tasks';

// Loading yields to the main thread's event loop when every core is busy: this thread runs at lower
// priority and reads files itself (blocking reads) rather than on libuv's pool at normal priority.
useBlockingReads(true);
try {
  native().lowerThreadPriority();
} catch {
  /* no addon: loading still works, at normal priority */
}

type Message = { id: number; op: 'start'; task: TaskName; args: never } | { id: number; op: 'next' | 'return' };

const jobs = new Map<number, AsyncGenerator<unknown>>();

/** The ArrayBuffers of the Float32Arrays in `v` (one level of objects deep) that each array covers whole. */
export function transferables(v: unknown, out = new Set<ArrayBuffer>(), depth = 0): ArrayBuffer[] {
  if (ArrayBuffer.isView(v)) {
    const b = v.buffer;
    if (b instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === b.byteLength) out.add(b);
  } else if (v && typeof v === 'object' && depth < 3)
    for (const x of Object.values(v)) transferables(x, out, depth + 1);
  return [...out];
}

function serialiseError(e: unknown): { name: string; code?: string; message: string } {
  const err = e as { name?: string; code?: string; message?: string };
  return { name: String(err?.name ?? 'Error'), code: err?.code, message: String(err?.message ?? e) };
}

parentPort?.on('message', async (m: Message) => {
  const port = parentPort!;
  try {
    if (m.op === 'start') {
      jobs.set(m.id, (TASKS[m.task] as (a: never) => AsyncGenerator<unknown>)(m.args));
      return;
    }
    const job = jobs.get(m.id);
    if (m.op === 'return') {
      jobs.delete(m.id);
      await job?.return(undefined);
      return;
    }
    if (!job) throw new Error(`loader thread: no job ${m.id}`);
    const r = await job.next();
    if (r.done) jobs.delete(m.id);
    port.postMessage({ id: m.id, done: !!r.done, value: r.value }, transferables(r.value));
  } catch (e) {
    jobs.delete(m.id);
    port.postMessage({ id: m.id, error: serialiseError(e) });
  }
});
