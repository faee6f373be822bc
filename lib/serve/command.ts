/**
 * The `vggnet serve` command: load a classifier (a weights file, the embedded MNIST model, or seeded random
 * weights), serve it over HTTP (server.ts) on host:port, and shut down gracefully on SIGTERM / SIGINT.
 *
 * Output: stdout `vggnet serve: listening on <url>` as soon as the port is bound (live, not ready), then
 * `vggnet serve: ready: …` once the model is loaded; on a signal, stderr `vggnet serve: <signal>: …` and
 * stdout `vggnet serve: stopped` at the end. Exit status 0 after a graceful shutdown; 1 when loading
 * fails or when the shutdown had to cut connections after --shutdown-timeout-ms (or on a second signal).
 */
import {
  Classifier,
  ConvAlgorithm,
  defaultLabels,
  DeviceName,
  InvalidArgumentError,
  loadClassifier,
  LoadOptions,
  Model,
  PreprocessSpec,
  PRESETS,
  FailOn,
} from '../index';
import { SchedulingModelOptions } from './contract';
import { buildServer } from './server';

export interface ServeFlags {
  weights?: string;
  random?: string;
  seed: number;
  arch?: string;
  name?: string;
  device: string;
  threads?: number;
  memoryBudget?: number;
  convAlgorithm: ConvAlgorithm;
  preprocess?: 'torchvision' | 'caffe';
  port: number;
  host: string;
  maxBatch?: number;
  maxDelayMs?: number;
  maxQueue?: number;
  bodyLimit?: number;
  maxPixels?: number;
  timeoutMs?: number;
  retryAfter?: number;
  shutdownDelayMs?: number;
  shutdownTimeoutMs: number;
  failOn?: FailOn;
}

/** Normalisation of random greyscale models (1 input channel): pixels / 255. */
const GREY: PreprocessSpec = { colorSpace: 'grey', scale: 1 / 255, mean: [0], std: [1] };

/** The scheduling options given on the command line (the library checks them). */
function schedulingOptions(o: ServeFlags): SchedulingModelOptions {
  const given: SchedulingModelOptions = {};
  if (o.maxBatch !== undefined) given.maxBatch = o.maxBatch;
  if (o.maxDelayMs !== undefined) given.maxDelayMs = o.maxDelayMs;
  if (o.maxQueue !== undefined) given.maxQueue = o.maxQueue;
  return given;
}

async function loadForServe(o: ServeFlags, scheduling: SchedulingModelOptions): Promise<Classifier> {
  const modelOptions = {
    device: o.device as DeviceName, // checked by the library
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.memoryBudget !== undefined ? { memoryBudget: o.memoryBudget } : {}),
    convAlgorithm: o.convAlgorithm,
    ...scheduling,
  };
  if (o.random) {
    const model = await Model.random(o.random, o.seed, modelOptions);
    const { inChannels, numClasses } = model.config;
    const preprocess = o.preprocess ? PRESETS[o.preprocess] : inChannels === 1 ? GREY : PRESETS.torchvision;
    return { model, labels: defaultLabels(numClasses), preprocess, source: 'random', ownPreprocess: false };
  }
  const opts: LoadOptions = { ...modelOptions };
  if (o.arch) opts.arch = o.arch;
  if (o.preprocess) opts.preprocess = o.preprocess;
  return loadClassifier(o.weights, opts);
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
  if (o.random && (o.weights || o.arch))
    throw new InvalidArgumentError('--random: the architecture comes with it; not together with --weights or --arch');
  const scheduling = schedulingOptions(o);
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
    const c = await loadForServe(o, scheduling);
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
