#!/usr/bin/env node
/**
 * The `vggnet` command line (commander). Exit codes: 0 ok; 1 on error, with a one-line message on stderr
 * (the error's code and message).
 */
import { Command, InvalidArgumentError as CommanderArgError } from 'commander';

import { backends } from './backends';
import { VggError } from './errors';
import { formatSummary, summary } from './summary';

function intOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgError(`expected a positive integer, got '${value}'`);
  return n;
}

function formatInfo(r: ReturnType<typeof backends>): string {
  const lines = [
    `binary:  ${r.binary}`,
    `cpu:     ${r.cpu.kernelFamily} kernels (${r.cpu.reason}), ${r.cpu.hardwareThreads} hardware threads`,
    `cuda:    ${r.cuda.compiled ? `compiled in (runtime ${Math.floor(r.cuda.runtimeVersion / 1000)}.${(r.cuda.runtimeVersion % 1000) / 10})` : 'not compiled in'}`,
  ];
  if (r.cuda.devices.length === 0) lines.push(`         no device: ${r.cuda.reason}`);
  for (const d of r.cuda.devices)
    lines.push(`         cuda:${d.index} ${d.name}, ${(d.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, compute capability ${d.computeCapability}`);
  lines.push(`auto:    ${r.auto.device} (${r.auto.reason})`);
  return lines.join('\n');
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
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().exitOverride().parseAsync(argv);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) return err.exitCode ?? 1; // commander already printed it
    const msg = e instanceof VggError ? `${err.code}: ${err.message}` : `error: ${err.message}`;
    process.stderr.write(`vggnet: ${msg.split('\n').join(' ')}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
