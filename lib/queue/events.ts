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
  const token = randomUUID();
  let onProbe!: ProbeListener[typeof PROBE];
  const seen = new Promise<void>((resolve) => (onProbe = (args) => args.token === token && resolve()));
  events.on<ProbeListener>(PROBE, onProbe);
  const end = performance.now() + timeoutMs;
  try {
    for (let wait = 50; ; wait = Math.min(2 * wait, 1000)) {
      await producer.publishEvent({ eventName: PROBE, token }, MAX_EVENTS);
      const back = await Promise.race([seen.then(() => true), new Promise((r) => setTimeout(r, wait, false))]);
      if (back) return events;
      if (performance.now() > end)
        throw new Error(`queue '${queue}': no event came back from Redis in ${timeoutMs} ms`);
    }
  } catch (e) {
    await events.close();
    throw e;
  } finally {
    events.off<ProbeListener>(PROBE, onProbe);
    await producer.close();
  }
}
