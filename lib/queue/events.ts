/**
 * A QueueEvents that is already reading when it is handed over. BullMQ's QueueEvents reads the queue's event
 * stream from its end ('$') as of the moment its first XREAD reaches Redis, and that can be seconds after
 * waitUntilReady() resolves (measured here: 3 s into a burst of 2,000 adds on a loaded 2-core host), so the
 * events of jobs added meanwhile are never delivered. Publishing a probe event until the reader sees one
 * closes that gap: from then on its position in the stream is an event id, and no later event is skipped.
 */
import { randomUUID } from 'crypto';

import { ConnectionOptions, QueueEvents, QueueEventsListener, QueueEventsProducer } from 'bullmq';

/** The probe's event name: other listeners of the queue's events ignore names they do not know. */
const PROBE = 'vggnet:probe';

/** BullMQ's way to type a custom event's listener. */
interface ProbeListener extends QueueEventsListener {
  [PROBE]: (args: { token?: string }) => void;
}

/** The events stream's length after a probe (XADD MAXLEN ~): BullMQ's own default for a queue's events. */
const MAX_EVENTS = 10_000;

/**
 * Opens a QueueEvents on `queue` and resolves once it delivers events (see above).
 * @param timeoutMs  how long to wait for the first probe back, ms
 * @throws Error when Redis does not answer within timeoutMs (the QueueEvents is closed)
 */
export async function openQueueEvents(
  queue: string,
  connection: ConnectionOptions,
  prefix?: string,
  timeoutMs = 30_000,
): Promise<QueueEvents> {
  const opts = { connection, ...(prefix !== undefined ? { prefix } : {}) };
  const events = new QueueEvents(queue, opts);
  const producer = new QueueEventsProducer(queue, opts);
  let lastError = '';
  const onError = (e: Error) => (lastError = ` (${e.message})`); // without a listener BullMQ prints each one
  events.on('error', onError);
  producer.on('error', onError);
  const token = randomUUID();
  let onProbe!: ProbeListener[typeof PROBE];
  const seen = new Promise<void>((resolve) => (onProbe = (args) => args.token === token && resolve()));
  events.on<ProbeListener>(PROBE, onProbe);
  const end = performance.now() + timeoutMs;
  try {
    for (let wait = 50; ; wait = Math.min(2 * wait, 1000)) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`queue '${queue}': Redis did not answer in ${timeoutMs} ms${lastError}`)),
          Math.max(0, end - performance.now()),
        );
      });
      await Promise.race([producer.publishEvent({ eventName: PROBE, token }, MAX_EVENTS), late]).finally(() =>
        clearTimeout(timer),
      );
      const back = await Promise.race([seen.then(() => true), new Promise((r) => setTimeout(r, wait, false))]);
      if (back) return events;
      if (performance.now() > end)
        throw new Error(`queue '${queue}': no event came back from Redis in ${timeoutMs} ms${lastError}`);
    }
  } catch (e) {
    await events.close();
    throw e;
  } finally {
    events.off<ProbeListener>(PROBE, onProbe);
    events.off('error', onError);
    await producer.close();
  }
}
