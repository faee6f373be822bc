/**
 * The outside references in Python: Debian's python3-torch, python3-torchvision, python3-h5py,
 * python3-protobuf (TOOLCHAIN.md). They are run with /usr/bin/python3, the interpreter that sees Debian's
 * packages (the `python3` first on PATH may be another one). Tests that need them skip, with the reason,
 * where they are missing (testIf in skip.ts).
 */
import { spawnSync } from 'child_process';

export const PYTHON = '/usr/bin/python3';

/** null when `modules` all import in PYTHON, else why not (for a skip reason). Checked once per set. */
export function pythonMissing(...modules: string[]): string | null {
  const key = modules.join(',');
  if (!cache.has(key)) {
    const r = spawnSync(PYTHON, ['-c', `import ${key}`], { encoding: 'utf8', timeout: 120_000 });
    cache.set(
      key,
      r.status === 0
        ? null
        : `${PYTHON} cannot import ${key} (${(r.error?.message ?? r.stderr.trim().split('\n').pop()) || 'failed'}); ` +
            `install the Debian packages (.ci/deps)`,
    );
  }
  return cache.get(key) ?? null;
}
const cache = new Map<string, string | null>();

/**
 * Runs a Python script (a file path) with arguments; returns its stdout.
 * @throws Error with the script's stderr when it fails or runs past `timeoutMs`
 */
export function runPython(script: string, args: string[], timeoutMs = 600_000): string {
  const r = spawnSync(PYTHON, [script, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 << 20,
    env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '2' },
  });
  if (r.status !== 0)
    throw new Error(`${script} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}`);
  return r.stdout;
}
