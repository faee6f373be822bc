/**
 * Many images through the queue: submitImages puts a job per image on the queue, at most `window` waiting for
 * their result at a time (so Redis never holds more than `window` images of this call), and writes one JSON
 * line per image as its result arrives (completion order, not input order). Results come from the queue's
 * event stream; a job whose event was missed (the stream is capped, and shared by every producer of the queue)
 * is found by polling its state every `sweepMs`.
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Writable } from 'stream';

import { Queue, type QueueEvents } from 'bullmq';
import { SingleBar } from 'cli-progress';

import { InvalidArgumentError, VggError } from '../index';
import { enqueueClassify, EnqueueOptions } from './client';
import { checkQueueName, connectionOptions, RedisConnection, shownConnection } from './connection';
import { openQueueEvents } from './events';
import { ClassifyJobResult, INTERNAL_CODE, jobError } from './job';

/** File extensions taken from a folder: the encoded formats classifyImage (sharp) decodes. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

export interface SubmitOptions extends Omit<EnqueueOptions, 'jobId' | 'name'> {
  redis: RedisConnection;
  queue: string;
  /** BullMQ's key prefix. Default: BullMQ's ('bull'). */
  prefix?: string;
  /** Where the JSON lines go (one per image). */
  out: Writable;
  /** Jobs waiting for their result at once, in [1, 10000]. Default 256. */
  window?: number;
  /** Show a progress bar (cli-progress) on stderr. Default: when stderr is a terminal. */
  progress?: boolean;
  /** Poll period for jobs whose result event has not come, ms. Default 5000. */
  sweepMs?: number;
  /** How long to wait for Redis at the start, ms. Default 10000. */
  connectTimeoutMs?: number;
}

/** One JSON line: the image's result, or its error. */
export type SubmitLine = { file: string; job: string } & (
  ClassifyJobResult | { error: { code: string; message: string } }
);

export interface SubmitSummary {
  submitted: number;
  completed: number;
  failed: number;
  seconds: number;
}

const URL_INPUT = /^(https?:\/\/|file:)/i;

/**
 * The image files under each of `inputs` (a folder, searched recursively, keeps the files whose extension is
 * one of IMAGE_EXTENSIONS; a file is taken whatever its name; an http:, https: or file: URL is kept as it is),
 * sorted per folder.
 * @throws InvalidArgumentError for an input that does not exist
 */
export async function listImages(inputs: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    if (URL_INPUT.test(input)) {
      files.push(input); // the workers fetch it
      continue;
    }
    const st = await fs.promises.stat(input).catch(() => undefined);
    if (!st) throw new InvalidArgumentError(`images: no such file or folder: ${input}`);
    if (!st.isDirectory()) {
      files.push(input);
      continue;
    }
    const names = (await fs.promises.readdir(input, { recursive: true })) as string[];
    files.push(
      ...names
        .filter((n) => IMAGE_EXTENSIONS.includes(path.extname(n).toLowerCase()))
        .sort()
        .map((n) => path.join(input, n)),
    );
  }
  return files;
}

interface Waiter {
  resolve: (r: ClassifyJobResult) => void;
  reject: (e: Error) => void;
  /** When the add returned (performance.now()); undefined while it is in flight. */
  addedAt?: number;
}

/** Results of jobs by id, from the queue's events, and by polling the jobs whose event has not come. */
class ResultWatcher {
  private readonly pending = new Map<string, Waiter>();
  private readonly timer: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    private readonly queue: Queue,
    events: QueueEvents,
    private readonly sweepMs: number,
  ) {
    events.on('completed', ({ jobId, returnvalue }) => this.take(jobId)?.resolve(returnvalue as ClassifyJobResult));
    events.on('failed', ({ jobId, failedReason }) => this.take(jobId)?.reject(jobError(jobId, failedReason)));
    this.timer = setInterval(() => void this.sweep(), sweepMs);
  }

  /** Registers a job id before its add, so no event can come first. */
  expect(id: string): { result: Promise<ClassifyJobResult>; added: () => void } {
    let waiter!: Waiter;
    const result = new Promise<ClassifyJobResult>((resolve, reject) => (waiter = { resolve, reject }));
    this.pending.set(id, waiter);
    return { result, added: () => (waiter.addedAt = performance.now()) };
  }

  forget(id: string): void {
    this.pending.delete(id);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private take(id: string): Waiter | undefined {
    const w = this.pending.get(id);
    this.pending.delete(id);
    return w;
  }

  /** Reads the state of the jobs added more than sweepMs ago that are still pending. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const old = performance.now() - this.sweepMs;
      for (const [id, w] of [...this.pending])
        if (w.addedAt !== undefined && w.addedAt < old) {
          const job = await this.queue.getJob(id);
          if (!this.pending.has(id)) continue; // its event came meanwhile
          if (!job)
            this.take(id)?.reject(jobError(id, `${INTERNAL_CODE}: the job left Redis before its result was read`));
          else if (job.finishedOn !== undefined && job.failedReason && (await job.isFailed()))
            this.take(id)?.reject(jobError(id, job.failedReason));
          else if (job.finishedOn !== undefined && (await job.isCompleted())) this.take(id)?.resolve(job.returnvalue);
        }
    } catch {
      // Redis unreachable for now: the next sweep tries again (a command that failed for good fails the adds)
    } finally {
      this.sweeping = false;
    }
  }
}

/** Resolves as `ready` does, or rejects after timeoutMs with `why()`. */
async function reachable(ready: Promise<void>, timeoutMs: number, why: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis ${why()} (no connection within ${timeoutMs} ms)`)), timeoutMs);
  });
  try {
    await Promise.race([ready, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Classifies many images through the queue: one job per image (see enqueueClassify for the options), results
 * written to `out` as JSON lines `{"file", "job", "top", "views", "mode", "scales", "flip", "arch"}` or
 * `{"file", "job", "error": {"code", "message"}}`, in the order they finish. Completed jobs are removed from
 * Redis once their line is written; failed jobs stay (7 days) for inspection. Workers must be running.
 * @throws InvalidArgumentError (options, before connecting); Error when Redis cannot be reached within
 *   connectTimeoutMs, or a command fails for good (after ioredis's retries)
 */
export async function submitImages(files: readonly string[], options: SubmitOptions): Promise<SubmitSummary> {
  const {
    redis,
    queue: queueName,
    prefix,
    out,
    window = 256,
    progress,
    sweepMs = 5000,
    connectTimeoutMs = 10_000,
    ...enqueue
  } = options;
  const name = checkQueueName(queueName);
  if (!Number.isInteger(window) || window < 1 || window > 10_000)
    throw new InvalidArgumentError(`options.window: expected an integer in [1, 10000], got ${JSON.stringify(window)}`);
  if (!Number.isInteger(sweepMs) || sweepMs < 100)
    throw new InvalidArgumentError(`options.sweepMs: expected an integer >= 100, got ${JSON.stringify(sweepMs)}`);
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1)
    throw new InvalidArgumentError(
      `options.connectTimeoutMs: expected a positive integer, got ${JSON.stringify(connectTimeoutMs)}`,
    );
  if (!out || typeof out.write !== 'function')
    throw new InvalidArgumentError('options.out: expected a writable stream (the JSON lines go there)');
  const started = performance.now();
  const connection = connectionOptions(redis, false);
  const queue = new Queue(name, { connection, ...(prefix !== undefined ? { prefix } : {}) });
  let lastError = 'no answer'; // ioredis reconnects by itself: its errors are only worth a message
  queue.on('error', (e) => (lastError = e.message));
  const summary: SubmitSummary = { submitted: 0, completed: 0, failed: 0, seconds: 0 };
  const bar =
    (progress ?? process.stderr.isTTY)
      ? new SingleBar(
          {
            format: 'submit [{bar}] {value}/{total} images, {failed} failed, ETA {eta_formatted}',
            stream: process.stderr,
          },
          undefined,
        )
      : null;
  let watcher: ResultWatcher | undefined;
  let events: QueueEvents | undefined;
  try {
    await reachable(queue.waitUntilReady(), connectTimeoutMs, () => `${shownConnection(redis)}: ${lastError}`);
    events = await openQueueEvents(name, connection, prefix, connectTimeoutMs);
    events.on('error', (e) => (lastError = e.message));
    watcher = new ResultWatcher(queue, events, sweepMs);
    bar?.start(files.length, 0, { failed: 0 });
    const write = (line: SubmitLine) =>
      new Promise<void>((resolve) => (out.write(`${JSON.stringify(line)}\n`) ? resolve() : out.once('drain', resolve)));
    const errorLine = (file: string, job: string, e: unknown): SubmitLine => {
      summary.failed++;
      const err = e as Error & { code?: string };
      return { file, job, error: { code: err.code ?? INTERNAL_CODE, message: err.message } };
    };
    let next = 0;
    let stopped = false;
    const lane = async (): Promise<void> => {
      while (next < files.length && !stopped) {
        const file = files[next++];
        const id = randomUUID();
        const { result, added } = watcher!.expect(id);
        let line: SubmitLine;
        try {
          await enqueueClassify(queue, file, {
            ...enqueue,
            jobId: id,
            name: URL_INPUT.test(file) ? file : path.basename(file),
          });
          summary.submitted++;
          added();
          try {
            line = { file, job: id, ...(await result) };
            summary.completed++;
            void queue.remove(id).catch(() => undefined); // its line is written: free its bytes in Redis now
          } catch (e) {
            line = errorLine(file, id, e);
          }
        } catch (e) {
          watcher!.forget(id);
          if (!(e instanceof VggError)) {
            stopped = true; // Redis failed: the run stops
            throw e;
          }
          line = errorLine(file, id, e); // this file could not be read or is too large
        }
        await write(line);
        bar?.increment({ failed: summary.failed });
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, files.length) }, lane));
  } finally {
    bar?.stop();
    watcher?.close();
    await Promise.allSettled([events?.close(), queue.close()]);
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}
