/** A `node dist/cli.js <command> …` child process that the tests wait on until it says it is ready. */
import { ChildProcessWithoutNullStreams, spawn } from 'child_process';
import * as path from 'path';

import { packageRoot } from '../../lib/native';

export interface CliChild {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** The exit code (null when a signal ended it). */
  exit: Promise<number | null>;
}

/**
 * Starts `node dist/cli.js …args` and resolves once `ready(stdout so far)` returns a value (the child and that
 * value). @throws Error with its output when it exits first or takes longer than `timeoutMs`
 */
export function startCli<T>(
  args: string[],
  ready: (stdout: string) => T | undefined,
  timeoutMs = 60000,
): Promise<CliChild & { ready: T }> {
  const root = packageRoot();
  const child = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], { cwd: root });
  let out = '',
    err = '';
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const what = `vggnet ${args[0]}`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} not ready after ${timeoutMs} ms:\n${out}\n${err}`));
    }, timeoutMs);
    const stderr: NodeJS.EventEmitter = child.stderr.setEncoding('utf8');
    const stdout: NodeJS.EventEmitter = child.stdout.setEncoding('utf8');
    stderr.on('data', (d: string) => (err += d));
    let done = false;
    stdout.on('data', (d: string) => {
      out += d;
      const value = done ? undefined : ready(out);
      if (value !== undefined) {
        done = true;
        clearTimeout(timer);
        resolve({ child, stdout: () => out, stderr: () => err, exit, ready: value });
      }
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready:\n${out}\n${err}`));
    });
  });
}
