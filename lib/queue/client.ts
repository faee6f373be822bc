/**
 * The producer's side: put a classify job on a BullMQ queue (enqueueClassify) and await its result
 * (classifyJobResult). Workers: worker.ts; many images at once: submit.ts.
 */
import { randomUUID } from 'crypto';
import type { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';

import type { Job, Queue, QueueEvents } from 'bullmq';

import { ImageInput, InvalidArgumentError, TimeoutError } from '../index';
import {
  checkJobOptions,
  CLASSIFY_JOB,
  ClassifyJobData,
  ClassifyJobOptions,
  ClassifyJobResult,
  JOB_DATA_VERSION,
  jobError,
  JobImage,
} from './job';

export type ClassifyJob = Job<ClassifyJobData, ClassifyJobResult>;

export interface EnqueueOptions extends ClassifyJobOptions {
  /**
   * How a path travels: 'bytes' (the default: the file is read here and its bytes go in the job, so any worker
   * can take it) or 'path' (the absolute path goes in the job: smaller jobs, but every worker must see the same
   * filesystem). Bytes always travel as bytes, URLs as the URL (the worker reads it).
   */
  send?: 'bytes' | 'path';
  /** The job's id: a string without ':' that is not an integer. Default: a random UUID. */
  jobId?: string;
  /** What to call the image in logs and results (stored in the job). Default: the path's base name. */
  name?: string;
  /** Tries before the job fails, for failures a retry may cure (busy, timeout, device). Default 3. */
  attempts?: number;
  /** First retry delay, ms, doubled at each retry (BullMQ's exponential backoff). Default 1000. */
  backoffMs?: number;
  /** BullMQ priority: 1 (first) … 2,097,152; none by default (plain FIFO, the fastest). */
  priority?: number;
  /** Seconds a completed job (its data and result) stays in Redis. Default 3600. Failed jobs stay 7 days. */
  keepCompletedS?: number;
  /** Largest encoded image, bytes: a larger one is refused here, before it reaches Redis. Default 16 MiB. */
  maxImageBytes?: number;
}

const ENQUEUE_KEYS = [
  'mode',
  'scales',
  'flip',
  'grid',
  'top',
  'send',
  'jobId',
  'name',
  'attempts',
  'backoffMs',
  'priority',
  'keepCompletedS',
  'maxImageBytes',
] as const satisfies readonly (keyof EnqueueOptions)[];
const CLASSIFY_KEYS = ['mode', 'scales', 'flip', 'grid', 'top'] as const;

/** A checked integer option in [min, max], or its default. */
function intIn(v: unknown, key: string, dflt: number | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
    throw new InvalidArgumentError(`options.${key}: expected an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return v as number;
}

/** A string that is a URL rather than a path, as classifyImage tells them apart (lib/image-input.ts). */
const URL_STRING = /^([a-z][a-z0-9+.-]*:\/\/|file:|data:)/i;

/** The job image for an input, read or referred to as `send` says. */
async function jobImage(image: ImageInput, send: 'bytes' | 'path', maxImageBytes: number): Promise<JobImage> {
  if (typeof image === 'string' && URL_STRING.test(image)) image = new URL(image);
  if (image instanceof URL) return { url: image.href };
  if (image instanceof ArrayBuffer) image = new Uint8Array(image);
  let bytes: Buffer;
  if (typeof image === 'string') {
    if (send === 'path') return { path: path.resolve(image) };
    const st = await fs.promises.stat(image).catch((e: Error) => {
      throw new InvalidArgumentError(`image: cannot read ${image} (${e.message})`);
    });
    if (!st.isFile()) throw new InvalidArgumentError(`image: expected a regular file, got something else: ${image}`);
    if (st.size > maxImageBytes)
      throw new InvalidArgumentError(
        `image: expected at most ${maxImageBytes} bytes (maxImageBytes), got ${st.size}: ${image}`,
      );
    bytes = await fs.promises.readFile(image);
  } else if (image instanceof Uint8Array) bytes = Buffer.from(image.buffer, image.byteOffset, image.length);
  else
    throw new InvalidArgumentError(
      `image: expected a path, a URL, a Buffer, a Uint8Array or an ArrayBuffer, got ${image === null ? 'null' : typeof image}`,
    );
  if (bytes.length > maxImageBytes)
    throw new InvalidArgumentError(
      `image: expected at most ${maxImageBytes} bytes (maxImageBytes), got ${bytes.length}`,
    );
  return { bytes: bytes.toString('base64') };
}

/**
 * Adds a classify job to a BullMQ queue (created by the caller: `new Queue(name, { connection })`).
 * @param image  a path (read here, or sent as an absolute path: options.send), the encoded bytes (Buffer,
 *   Uint8Array, ArrayBuffer), or a URL (a URL object, or a string 'http://…', 'https://…', 'file:…') the workers
 *   read themselves
 * @returns the job; await its result with classifyJobResult
 * @throws InvalidArgumentError for a bad option or image (before anything reaches Redis); Redis errors as BullMQ
 *   throws them
 */
export async function enqueueClassify(
  queue: Queue,
  image: ImageInput,
  options: EnqueueOptions | null = {},
): Promise<ClassifyJob> {
  const o = (options ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object' || Array.isArray(o))
    throw new InvalidArgumentError(`options: expected an object, got ${JSON.stringify(options)}`);
  for (const key of Object.keys(o))
    if (!(ENQUEUE_KEYS as readonly string[]).includes(key))
      throw new InvalidArgumentError(`options.${key}: unknown option; expected one of ${ENQUEUE_KEYS.join(', ')}`);
  const classify = checkJobOptions(Object.fromEntries(CLASSIFY_KEYS.filter((k) => k in o).map((k) => [k, o[k]])));
  const send = o.send ?? 'bytes';
  if (send !== 'bytes' && send !== 'path')
    throw new InvalidArgumentError(`options.send: expected 'bytes' | 'path', got ${JSON.stringify(send)}`);
  const jobId = o.jobId ?? randomUUID();
  if (typeof jobId !== 'string' || jobId === '' || jobId.includes(':') || /^\d+$/.test(jobId))
    throw new InvalidArgumentError(
      `options.jobId: expected a non-empty string without ':' that is not an integer, got ${JSON.stringify(jobId)}`,
    );
  const name = o.name ?? (typeof image === 'string' ? path.basename(image) : undefined);
  if (name !== undefined && typeof name !== 'string')
    throw new InvalidArgumentError(`options.name: expected a string, got ${JSON.stringify(name)}`);
  const attempts = intIn(o.attempts, 'attempts', 3, 1, 100)!;
  const backoffMs = intIn(o.backoffMs, 'backoffMs', 1000, 0, 2 ** 31 - 1)!;
  const priority = intIn(o.priority, 'priority', undefined, 1, 2_097_152);
  const keepCompletedS = intIn(o.keepCompletedS, 'keepCompletedS', 3600, 0, 2 ** 31 - 1)!;
  const maxImageBytes = intIn(o.maxImageBytes, 'maxImageBytes', 16 * 2 ** 20, 1, 2 ** 31 - 1)!;

  const data: ClassifyJobData = {
    v: JOB_DATA_VERSION,
    image: await jobImage(image, send, maxImageBytes),
    options: classify,
    ...(name !== undefined ? { name } : {}),
  };
  return queue.add(CLASSIFY_JOB, data, {
    jobId,
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    ...(priority !== undefined ? { priority } : {}),
    removeOnComplete: { age: keepCompletedS },
    removeOnFail: { age: 7 * 24 * 3600 },
  }) as Promise<ClassifyJob>;
}

/**
 * Awaits the result of a classify job (BullMQ's job.waitUntilFinished over `events`, a QueueEvents of the
 * job's queue from openQueueEvents: one from `new QueueEvents` may not be reading yet when the job finishes, and
 * then this waits for ever).
 * @param timeoutMs  how long to wait, ms; default: until the job finishes
 * @throws the job's error with its code and `jobId` (see jobError: FormatError for a corrupt image, …);
 *   TimeoutError when timeoutMs passes first (the job goes on)
 */
export async function classifyJobResult(
  job: ClassifyJob,
  events: QueueEvents,
  timeoutMs?: number,
): Promise<ClassifyJobResult> {
  // Each wait listens to its queue's 'closing' until it settles: many jobs awaited at once are not a leak, so
  // the queue's listener limit grows by one for the time of each wait (job.queue is protected in BullMQ's types).
  const q = (job as unknown as { queue?: EventEmitter }).queue;
  const limited = !!q && typeof q.getMaxListeners === 'function' && q.getMaxListeners() !== 0;
  if (limited) q.setMaxListeners(q.getMaxListeners() + 1);
  try {
    return await job.waitUntilFinished(events, timeoutMs);
  } catch (e) {
    const message = (e as Error).message;
    if (timeoutMs !== undefined && /timed out before finishing/.test(message))
      throw new TimeoutError(`job ${job.id}: no result within ${timeoutMs} ms (the job goes on)`);
    throw jobError(String(job.id), message);
  } finally {
    if (limited) q.setMaxListeners(q.getMaxListeners() - 1);
  }
}
