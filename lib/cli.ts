#!/usr/bin/env node
/**
 * The `vggnet` command line (commander). Exit codes: 0 ok; 1 on error, with a one-line message on stderr
 * (the error's code and message).
 */
import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander';

import { SingleBar } from 'cli-progress';

import { backends } from './backends';
import { InvalidArgumentError, VggError } from './errors';
import { embedCommand, EmbedFlags } from './embed-command';
import { classifyImage, defaultScales } from './evaluate';
import { loadFromFlags } from './cli-classifier';
import { ConvAlgorithm, ForwardMode, parseMode, Precision } from './options';
import { FailOn } from './preprocess';
import type { WorkerFlags, SubmitFlags } from './queue/command';
import type { ServeFlags } from './serve/command';
import { formatSummary, summary } from './summary';
import { printable, terminalJson } from './terminal';

/** `file: label 97.1%, label 1.2%, …` with the file name and the labels (from the weights file) made printable. */
function formatTop(file: string, top: readonly { label: string; probability: number }[]): string {
  return `${printable(file)}: ${top.map((p) => `${printable(p.label)} ${(100 * p.probability).toFixed(1)}%`).join(', ')}`;
}

function intOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgError(`expected a positive integer, got '${value}'`);
  return n;
}

function countOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CommanderArgError(`expected an integer >= 0, got '${value}'`);
  return n;
}

function portOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new CommanderArgError(`expected a port in [0, 65535], got '${value}'`);
  return n;
}

function msOption(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new CommanderArgError(`expected a number of ms >= 0, got '${value}'`);
  return n;
}

function scalesOption(value: string): number[] {
  const parts = value.split(',').map((v) => v.trim());
  const qs = parts.map(Number);
  if (parts.some((p) => p === '') || !qs.every((q) => Number.isInteger(q) && q >= 0))
    throw new CommanderArgError(`expected comma-separated integers (test scales Q), got '${value}'`);
  return qs;
}

/** --fail-on: how strict image decoding is (the library's ImageOptions.failOn). */
function failOnOption(): Option {
  return new Option(
    '--fail-on <level>',
    'refuse damaged images from this level: none (decode what can be), truncated, error, warning (default: corrupt or truncated data is an error)',
  ).choices(['none', 'truncated', 'error', 'warning']);
}

/** --precision: the model option (ModelOptions.precision); absent, the library's default ('tf32': fp32 on the CPU). */
function precisionOption(): Option {
  return new Option(
    '--precision <name>',
    "conv arithmetic: fp32, tf32 (CUDA's default; fp32 on the CPU), bf16 (CUDA, or a CPU with AVX512_BF16), fp16 (CUDA)",
  ).choices(['fp32', 'tf32', 'bf16', 'fp16']);
}

interface ClassifyFlags {
  arch?: string;
  weights?: string;
  mode: ForwardMode;
  scales?: number[];
  flip?: boolean;
  grid?: number;
  top: number;
  device: string;
  threads?: number;
  convAlgorithm: ConvAlgorithm;
  precision?: Precision;
  preprocess?: 'torchvision' | 'caffe';
  failOn?: FailOn;
  json?: boolean;
}

async function classifyCommand(images: string[], o: ClassifyFlags): Promise<number> {
  const mode = parseMode(o.mode, '--mode');
  if ((o.grid ?? 1) > 1 && mode !== 'fc')
    throw new InvalidArgumentError(`--grid: multi-crop needs --mode fc (dense evaluation takes the whole image)`);
  const c = await loadFromFlags({
    weights: o.weights,
    arch: o.arch,
    seed: 1, // unused: classify takes no --random
    device: o.device,
    threads: o.threads,
    convAlgorithm: o.convAlgorithm,
    precision: o.precision,
    preprocess: o.preprocess,
  });
  const scales = o.scales ?? defaultScales(c.model.config.inputSize, mode, c.ownPreprocess);
  const bar =
    process.stdout.isTTY && !o.json && images.length > 1
      ? new SingleBar({ format: 'classifying [{bar}] {value}/{total} images', clearOnComplete: true })
      : null;
  bar?.start(images.length, 0);
  const results: object[] = [];
  let failed = 0;
  for (const file of images) {
    try {
      const r = await classifyImage(c, file, {
        mode,
        scales,
        flip: o.flip,
        grid: o.grid,
        top: o.top,
        ...(o.failOn ? { failOn: o.failOn } : {}),
      });
      results.push({ file, top: r.top, views: r.views });
      if (!o.json && !bar) console.log(formatTop(file, r.top));
    } catch (e) {
      if (!(e instanceof VggError)) throw e;
      failed++;
      results.push({ file, error: { code: e.code, message: e.message } });
      if (!o.json)
        process.stderr.write(`vggnet: ${printable(file)}: ${e.code}: ${printable(e.message.split('\n').join(' '))}\n`);
    }
    bar?.increment();
  }
  bar?.stop();
  if (bar)
    for (const r of results as { file: string; top?: { label: string; probability: number }[] }[])
      if (r.top) console.log(formatTop(r.file, r.top));
  const meta = {
    arch: c.model.config.name,
    source: c.source,
    device: c.model.device,
    mode,
    scales,
    flip: !!o.flip,
  };
  if (o.json) console.log(terminalJson({ ...meta, results }));
  c.model.dispose();
  return failed ? 1 : 0;
}

function formatInfo(r: ReturnType<typeof backends>): string {
  const lines = [
    `binary:  ${r.binary}`,
    `cpu:     ${r.cpu.kernelFamily} kernels (${r.cpu.reason}), ${r.cpu.hardwareThreads} hardware threads, ` +
      `precisions ${r.cpu.precisions.join(', ')}`,
    `cuda:    ${r.cuda.compiled ? `compiled in (runtime ${Math.floor(r.cuda.runtimeVersion / 1000)}.${(r.cuda.runtimeVersion % 1000) / 10})` : 'not compiled in'}`,
  ];
  if (r.cuda.devices.length === 0) lines.push(`         no device: ${r.cuda.reason}`);
  for (const d of r.cuda.devices)
    lines.push(
      `         cuda:${d.index} ${d.name}, ${(d.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, compute capability ${d.computeCapability}`,
    );
  lines.push(`auto:    ${r.auto.device} (${r.auto.reason})`);
  return lines.join('\n');
}

/** The model flags of the long-running commands (serve, worker): weights, device, and the model's scheduler. */
function addModelOptions(cmd: Command, words: { budget: string; queue: string }): Command {
  return cmd
    .option('--weights <file>', 'weights file: safetensors, ONNX, PyTorch .pth, Keras .h5 or Caffe .caffemodel')
    .option('--random <arch>', 'seeded random weights of an architecture instead (for benchmarks), e.g. vgg16')
    .option('--seed <n>', 'seed of --random', countOption, 1)
    .option('--arch <arch>', 'architecture, when the weights do not tell it (e.g. vgg11_lrn)')
    .option('--device <device>', "'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'reference'", 'auto')
    .option('--threads <n>', 'CPU threads, 0: all cores (the default)', countOption)
    .option('--memory-budget <bytes>', `bytes one forward may use (default: the library's); ${words.budget}`, intOption)
    .addOption(
      new Option('--conv-algorithm <name>', 'CPU convolution algorithm')
        .choices(['auto', 'gemm', 'winograd2x2', 'winograd4x4'])
        .default('auto'),
    )
    .addOption(precisionOption())
    .addOption(new Option('--preprocess <preset>', "default: the weights' own").choices(['torchvision', 'caffe']))
    .option(
      '--max-batch <n>',
      'images per forward when concurrent requests are batched (1: no batching; library default 8)',
      intOption,
    )
    .option(
      '--max-delay-ms <ms>',
      'how long a request on an idle model may wait for others to join its batch (library default 0)',
      msOption,
    )
    .option('--max-queue <n>', `requests that may wait (library default 64); ${words.queue}`, intOption);
}

/** Where the queue is: the Redis URL, the queue's name and BullMQ's key prefix (worker and submit). */
function addQueueOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--redis <url>', 'Redis URL, redis://[:password@]host:port[/db] (rediss:// for TLS)')
    .requiredOption('--queue <name>', 'the BullMQ queue of classify jobs')
    .option('--prefix <prefix>', "BullMQ's key prefix (default 'bull')");
}

export function buildProgram(): Command {
  const program = new Command();
  program.name('vggnet').description('VGG networks (Simonyan & Zisserman 2014) at native speed').showHelpAfterError();

  program
    .command('info')
    .description('report the backends: CPU kernel family, threads, CUDA build and devices')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const r = backends();
      console.log(opts.json ? JSON.stringify(r, null, 2) : formatInfo(r));
    });

  program
    .command('summary')
    .description('per-layer shapes, parameters and multiply-adds of an architecture')
    .argument('<arch>', 'vgg11 | vgg11_lrn | vgg13 | vgg16_c | vgg16 | vgg19, or a paper letter A, A-LRN, B, C, D, E')
    .option('--input <size>', 'input height = width in pixels', intOption)
    .option('--json', 'machine-readable output')
    .action((arch: string, opts: { input?: number; json?: boolean }) => {
      const s = summary(arch, opts.input);
      console.log(opts.json ? JSON.stringify(s, null, 2) : formatSummary(s));
    });
  program
    .command('classify')
    .description('classify images (default weights: the embedded MNIST digit model)')
    .argument('<images...>', 'image files (JPEG, PNG, WebP, GIF, TIFF), or http(s):// and file: URLs')
    .option('--arch <arch>', 'architecture, when the weights do not tell it (e.g. vgg11_lrn)')
    .option('--weights <file>', 'weights file: safetensors, ONNX, PyTorch .pth, Keras .h5 or Caffe .caffemodel')
    // Checked by the library, whose error names the choices (and the former name 'fully-conv').
    .option(
      '--mode <mode>',
      "'dense': dense evaluation of the whole image (paper §3.2); 'fc': centre crop or --grid crops; " +
        "'torchvision': the whole image through AdaptiveAvgPool2d(7) as torchvision's VGG",
      'dense',
    )
    .option('--scales <list>', 'test scales Q: shorter side in pixels, e.g. 256,384,512 (0: keep size)', scalesOption)
    .option('--flip', 'also evaluate the horizontal flip and average the posteriors')
    .option('--grid <n>', 'fc mode: n×n grid of crops per scale (multi-crop)', intOption)
    .option('--top <k>', 'number of classes to print', intOption, 5)
    .option('--device <device>', "'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'reference'", 'auto')
    .option('--threads <n>', 'CPU threads, 0: all cores (the default)', countOption)
    .addOption(
      new Option(
        '--conv-algorithm <name>',
        'CPU convolution algorithm: auto (Winograd F(4x4) where it applies), gemm (least memory), winograd2x2, winograd4x4',
      )
        .choices(['auto', 'gemm', 'winograd2x2', 'winograd4x4'])
        .default('auto'),
    )
    .addOption(precisionOption())
    .addOption(new Option('--preprocess <preset>', "default: the weights' own").choices(['torchvision', 'caffe']))
    .addOption(failOnOption())
    .option('--json', 'machine-readable output')
    .action(async (images: string[], o: ClassifyFlags) => {
      const code = await classifyCommand(images, o);
      if (code) process.exitCode = code;
    });

  program
    .command('embed')
    .description('features of images from any layer (e.g. pool5, fc7), as JSON lines or a safetensors file')
    .argument('<images...>', 'image files (JPEG, PNG, WebP, GIF, TIFF)')
    .requiredOption('--layers <names>', 'comma-separated layer names: conv1_1 … conv5_3, pool1 … pool5, fc6, fc7, fc8')
    .option('--weights <file>', 'weights file (safetensors, ONNX, PyTorch .pth, Keras .h5, Caffe .caffemodel)')
    .option('--arch <arch>', 'architecture, when the weights do not tell it (e.g. vgg11_lrn)')
    .option(
      '--mode <mode>',
      "'fc': resize and centre-crop the training size; 'torchvision' or 'dense': the whole image at --scale",
      'fc',
    )
    .option(
      '--scale <q>',
      'shorter side in pixels before the forward (0: keep size; default 256, dense 384)',
      countOption,
    )
    .option('--out <file>', 'write one safetensors file instead of JSON lines on stdout')
    .option('--device <device>', "'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'reference'", 'auto')
    .option('--threads <n>', 'CPU threads, 0: all cores (the default)', countOption)
    .addOption(
      new Option('--conv-algorithm <name>', 'CPU convolution algorithm')
        .choices(['auto', 'gemm', 'winograd2x2', 'winograd4x4'])
        .default('auto'),
    )
    .addOption(precisionOption())
    .addOption(new Option('--preprocess <preset>', "default: the weights' own").choices(['torchvision', 'caffe']))
    .action(async (images: string[], o: EmbedFlags) => {
      const code = await embedCommand(images, o);
      if (code) process.exitCode = code;
    });

  addModelOptions(
    program
      .command('serve')
      .description(
        'serve a model over HTTP: POST /v1/classify, the KServe v2 protocol (/v2/...), /metrics (default weights: the embedded MNIST model)',
      ),
    { budget: 'a larger forward: 413', queue: 'more are refused with 503 + Retry-After' },
  )
    .option('--name <name>', "the model's name in /v2/models/{name} (default: the architecture's name)")
    .option('--port <n>', 'TCP port (0: any free port, printed)', portOption, 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--body-limit <bytes>', 'largest request body (image or JSON tensor), bytes (default 16 MiB)', intOption)
    .option('--max-pixels <n>', 'largest image /v1/classify decodes, width × height (default 4096²)', intOption)
    .option('--timeout-ms <ms>', 'deadline of each inference request; past it: 503 ERR_VGG_TIMEOUT', intOption)
    .option('--retry-after <s>', 'Retry-After of 503 answers, seconds (default 1)', countOption)
    .option(
      '--shutdown-delay-ms <ms>',
      'on SIGTERM: ms of not-ready before the listener closes (default 0)',
      countOption,
    )
    .option(
      '--shutdown-timeout-ms <ms>',
      'on SIGTERM: cut connections still open after this (exit 1)',
      intOption,
      30000,
    )
    .addOption(failOnOption())
    .action(async (o: ServeFlags) => {
      const { serveCommand } = await import('./serve/command');
      const code = await serveCommand(o);
      if (code) process.exitCode = code;
    });

  addModelOptions(
    addQueueOptions(
      program
        .command('worker')
        .description(
          'classify the jobs of a BullMQ queue on Redis (default weights: the embedded MNIST model); jobs taken at once share batched forwards',
        ),
    ),
    { budget: 'a larger job fails with ERR_VGG_MEMORY_BUDGET', queue: 'must be >= --concurrency' },
  )
    .option('--concurrency <n>', 'jobs taken at once (default: 2 × max batch, at most max queue)', intOption)
    .option('--name <name>', "this worker's name in the jobs it takes (default: host:pid)")
    .option('--lock-duration-ms <ms>', "a job's lock without renewal, ms (BullMQ default 30000)", intOption)
    .option('--stalled-interval-ms <ms>', 'period of the check for jobs of dead workers, ms (default 30000)', intOption)
    .option(
      '--max-stalled-count <n>',
      'times a job may be taken back from a dead worker before it fails (default 1)',
      intOption,
    )
    .option('--max-image-bytes <n>', 'largest encoded image a job may carry or point to (default 16 MiB)', intOption)
    .addOption(failOnOption())
    .option(
      '--shutdown-timeout-ms <ms>',
      'on SIGTERM: abandon the jobs still running after this (they go back to the queue; exit 1)',
      intOption,
      60000,
    )
    .action(async (o: WorkerFlags) => {
      const { workerCommand } = await import('./queue/command');
      const code = await workerCommand(o);
      if (code) process.exitCode = code;
    });

  addQueueOptions(
    program
      .command('submit')
      .description('classify the images of folders (recursively) and files through a BullMQ queue; JSON lines out')
      .argument('<images...>', 'folders, image files, http(s):// and file: URLs'),
  )
    .option('--out <file>', 'write the JSON lines to a file (default: stdout)')
    .option('--by-path', 'send absolute paths instead of the bytes (the workers must see the same files)')
    .addOption(
      new Option('--mode <mode>', "'dense' (the default), 'fc' or 'torchvision' (see classify)").choices([
        'dense',
        'fc',
        'torchvision',
      ]),
    )
    .option('--scales <list>', "test scales Q, e.g. 256,384,512 (default: the model's)", scalesOption)
    .option('--flip', 'also evaluate the horizontal flip and average the posteriors')
    .option('--grid <n>', 'fc mode: n×n grid of crops per scale (multi-crop)', intOption)
    .option('--top <k>', 'number of classes per image', intOption)
    .option('--window <n>', 'images in the queue at once (default 256)', intOption)
    .option('--attempts <n>', 'tries per job for failures a retry may cure (default 3)', intOption)
    .option('--no-progress', 'no progress bar (default: one on stderr when it is a terminal)')
    .action(async (images: string[], o: SubmitFlags) => {
      const { submitCommand } = await import('./queue/command');
      const code = await submitCommand(images, o);
      if (code) process.exitCode = code;
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().exitOverride().parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) return err.exitCode ?? 1; // commander already printed it
    const msg = e instanceof VggError ? `${err.code}: ${err.message}` : `error: ${err.message}`;
    process.stderr.write(`vggnet: ${printable(msg.split('\n').join(' '))}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
