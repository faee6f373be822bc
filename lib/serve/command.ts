/**
 * The `vggnet serve` command: load a classifier (a weights file, the embedded MNIST model, or seeded random
 * weights), serve it over HTTP (server.ts) on host:port, and shut down gracefully on SIGTERM / SIGINT.
 *
 * Output: stdout `vggnet serve: listening on <url>` as soon as the port is bound (live, not ready), then
 * `vggnet serve: ready: …` once the model is loaded; on a signal, stderr `vggnet serve: <signal>: …` and
 * stdout `vggnet serve: stopped` at the end. Exit status 0 after a graceful shutdown; 1 when loading
 * fails or when the shutdown had to cut connections after --shutdown-timeout-ms (or on a second signal).
 */
import sharp from 'sharp';

import { FailOn } from '../index';
import { checkModelFlags, loadFromFlags, ModelFlags } from '../cli-classifier';
import { buildServer } from './server';

export interface ServeFlags extends ModelFlags {
  name?: string;
  port: number;
  host: string;
  bodyLimit?: number;
  maxPixels?: number;
  timeoutMs?: number;
  retryAfter?: number;
  shutdownDelayMs?: number;
  shutdownTimeoutMs: number;
  failOn?: FailOn;
}

const say = (line: string) => process.stdout.write(`vggnet serve: ${line}\n`);
const warn = (line: string) => process.stderr.write(`vggnet serve: ${line}\n`);

/**
 * Runs the server until a signal has shut it down.
 * @returns the exit status: 0 after a graceful shutdown, 1 when connections had to be cut
 * @throws InvalidArgumentError for inconsistent flags, and whatever loading the model throws (after the
 *   server has been closed)
 */
export async function serveCommand(o: ServeFlags): Promise<number> {
  checkModelFlags(o);
  // libvips' operation cache keeps recent results for reuse; every request body is a new image, so it only
  // costs (~15 % of a small PNG's decode here). The process is ours: switch it off for all of it.
  sharp.cache(false);
  const server = buildServer({
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.bodyLimit !== undefined ? { bodyLimit: o.bodyLimit } : {}),
    ...(o.maxPixels !== undefined ? { maxPixels: o.maxPixels } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.retryAfter !== undefined ? { retryAfterS: o.retryAfter } : {}),
    ...(o.shutdownDelayMs !== undefined ? { shutdownDelayMs: o.shutdownDelayMs } : {}),
    ...(o.failOn !== undefined ? { failOn: o.failOn } : {}),
  });
  say(`listening on ${await server.listen(o.port, o.host)}`);

  let cut = false;
  const cutConnections = () => {
    cut = true;
    server.app.server.closeAllConnections();
  };
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  /** Starts the graceful shutdown once; a second signal cuts the open connections. */
  const stop = (why: string): Promise<void> => {
    if (stopping) {
      warn(`${why} again: closing open connections now`);
      cutConnections();
      return stopping;
    }
    warn(`${why}: shutting down (not ready; new work refused; in-flight work finishes)`);
    const timer = setTimeout(() => {
      warn(`shutdown took more than ${o.shutdownTimeoutMs} ms: closing open connections`);
      cutConnections();
    }, o.shutdownTimeoutMs);
    stopping = server.shutdown().finally(() => {
      clearTimeout(timer);
      resolveStopped();
    });
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => void stop(signal);
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);

  try {
    const c = await loadFromFlags(o);
    if (server.attach(c))
      say(
        `ready: model '${server.name}' (${c.model.config.name}, ${c.source} weights) on ${c.model.device}` +
          `, scheduler ${JSON.stringify(c.model.schedulerOptions)}`,
      );
  } catch (e) {
    await stop('loading failed');
    process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
    throw e;
  }
  await stopped;
  process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
  say('stopped');
  return cut ? 1 : 0;
}
