/**
 * `vggnet worker` and `vggnet submit`.
 *
 * worker: loads a classifier (as `vggnet serve` does) and classifies the jobs of a BullMQ queue until SIGTERM or
 * SIGINT. Output: stdout `vggnet worker: ready: …` once connected; on a signal, stderr `vggnet worker: <signal>:
 * …` and, when the jobs taken have finished, stdout `vggnet worker: stopped: <JSON>` (jobs completed and failed
 * here, and the model's scheduler counters, Model.stats()). Exit 0 after a graceful stop; 1 when it had to
 * abandon jobs (a second signal, or --shutdown-timeout-ms): those jobs go back to the queue once their lock
 * expires (--lock-duration-ms), and another worker takes them. A signal while the model loads or Redis connects
 * exits at once (1): no job was taken yet.
 *
 * submit: one job per image of the folders and files given, JSON lines as results come (submit.ts); a summary
 * on stderr. Exit 0 when every image was classified, 1 when any failed.
 */
import * as fs from 'fs';

import { FailOn, InvalidArgumentError } from '../index';
import { checkModelFlags, loadFromFlags, ModelFlags } from '../cli-classifier';
import { printable } from '../terminal';
import { checkQueueName, connectionOptions, shownConnection } from './connection';
import { ClassifyJobOptions } from './job';
import { listImages, submitImages } from './submit';
import { startClassifyWorker } from './worker';

export interface WorkerFlags extends ModelFlags {
  redis: string;
  queue: string;
  prefix?: string;
  concurrency?: number;
  name?: string;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  maxImageBytes?: number;
  failOn?: FailOn;
  shutdownTimeoutMs: number;
}

const say = (line: string) => process.stdout.write(`vggnet worker: ${line}\n`);
const warn = (line: string) => process.stderr.write(`vggnet worker: ${printable(line)}\n`);

/**
 * Runs a worker until a signal has stopped it.
 * @returns the exit status: 0 after a graceful stop, 1 when jobs were abandoned
 * @throws InvalidArgumentError for bad flags (before loading), and whatever loading the model throws
 */
export async function workerCommand(o: WorkerFlags): Promise<number> {
  checkModelFlags(o);
  connectionOptions(o.redis, true);
  checkQueueName(o.queue);

  let signalled: NodeJS.Signals | undefined;
  let onStop: (() => void) | undefined;
  let abandon: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!onStop) {
      // Still loading or connecting: no job taken yet, nothing to finish.
      warn(`${signal} before the worker was ready: exiting`);
      process.exit(1);
    }
    if (signalled) {
      warn(`${signal} again: stopping now; the jobs in progress go back to the queue when their lock expires`);
      abandon?.();
      return;
    }
    signalled = signal;
    onStop?.();
  };
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  try {
    const c = await loadFromFlags(o);
    let lastError = '';
    const w = await startClassifyWorker(c, {
      redis: o.redis,
      queue: o.queue,
      ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
      ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
      ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.lockDurationMs !== undefined ? { lockDurationMs: o.lockDurationMs } : {}),
      ...(o.stalledIntervalMs !== undefined ? { stalledIntervalMs: o.stalledIntervalMs } : {}),
      ...(o.maxStalledCount !== undefined ? { maxStalledCount: o.maxStalledCount } : {}),
      ...(o.maxImageBytes !== undefined ? { maxImageBytes: o.maxImageBytes } : {}),
      ...(o.failOn !== undefined ? { failOn: o.failOn } : {}),
      onError: (e) => {
        if (e.message !== lastError) warn(`redis: ${e.message}`); // a lost connection repeats its error
        lastError = e.message;
      },
    }).catch((e) => {
      c.model.dispose();
      throw e;
    });
    w.worker.on('failed', (job, e) => warn(`job ${job?.id} (${job?.data?.name ?? 'no name'}) failed: ${e.message}`));
    w.worker.on('stalled', (id) => warn(`job ${id} stalled (its worker stopped renewing the lock): back to waiting`));
    say(
      `ready: worker '${w.name}' on queue '${o.queue}' at ${shownConnection(o.redis)}, concurrency ${w.concurrency}` +
        `; model ${c.model.config.name} (${c.source} weights) on ${c.model.device}` +
        `, scheduler ${JSON.stringify(c.model.schedulerOptions)}`,
    );

    await new Promise<void>((resolve) => (onStop = resolve));
    warn(`${signalled}: finishing the ${w.counts().active} job(s) in progress; no new jobs taken`);
    let abandoned = false;
    const forced = new Promise<void>((resolve) => {
      abandon = () => {
        abandoned = true;
        resolve();
      };
    });
    const timer = setTimeout(() => {
      warn(`the jobs took more than ${o.shutdownTimeoutMs} ms: stopping now; they go back to the queue`);
      abandon!();
    }, o.shutdownTimeoutMs);
    await Promise.race([w.close(), forced]);
    clearTimeout(timer);
    if (abandoned) await w.close(true);
    const stats = c.model.stats();
    c.model.dispose();
    say(`stopped: ${JSON.stringify({ ...w.counts(), scheduler: stats })}`);
    return abandoned ? 1 : 0;
  } finally {
    process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
  }
}

export interface SubmitFlags extends ClassifyJobOptions {
  redis: string;
  queue: string;
  prefix?: string;
  out?: string;
  byPath?: boolean;
  window?: number;
  attempts?: number;
  progress?: boolean;
}

/**
 * Submits the images of folders and files and writes their results as JSON lines (stdout or --out).
 * @returns 0 when every image was classified, 1 when any failed
 * @throws InvalidArgumentError (no images, bad flags), and Redis errors
 */
export async function submitCommand(inputs: string[], o: SubmitFlags): Promise<number> {
  connectionOptions(o.redis, false);
  checkQueueName(o.queue);
  const files = await listImages(inputs);
  if (files.length === 0)
    throw new InvalidArgumentError(`images: no image files (${'.jpg, .png, …'}) in ${inputs.join(', ')}`);
  const out = o.out ? fs.createWriteStream(o.out) : process.stdout;
  const classify: ClassifyJobOptions = {};
  for (const k of ['mode', 'scales', 'flip', 'grid', 'top'] as const)
    if (o[k] !== undefined) (classify as Record<string, unknown>)[k] = o[k];
  try {
    const s = await submitImages(files, {
      redis: o.redis,
      queue: o.queue,
      ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
      out,
      send: o.byPath ? 'path' : 'bytes',
      ...(o.window !== undefined ? { window: o.window } : {}),
      ...(o.attempts !== undefined ? { attempts: o.attempts } : {}),
      ...(o.progress === false ? { progress: false } : {}), // commander's --no-progress: true unless given
      ...classify,
    });
    process.stderr.write(
      `vggnet submit: ${files.length} images: ${s.completed} classified, ${s.failed} failed, in ${s.seconds.toFixed(1)} s` +
        ` (${(s.completed / Math.max(s.seconds, 1e-9)).toFixed(1)} images/s)\n`,
    );
    return s.failed ? 1 : 0;
  } finally {
    if (out !== process.stdout) await new Promise<void>((resolve) => (out as fs.WriteStream).end(resolve));
  }
}
