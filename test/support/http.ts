/**
 * HTTP helpers for the server tests: real requests over loopback (fetch), a request whose body is sent in two
 * parts (to hold it in flight), a `vggnet serve` child process, and a Prometheus text-format parser.
 */
import { ChildProcessWithoutNullStreams } from 'child_process';
import * as http from 'http';

import { startCli } from './cli-child';

export interface Answer {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

/** A real HTTP request; resolves with the status, headers and (JSON-parsed when possible) body. */
export async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const r = await fetch(url, init);
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, headers: r.headers, body, text };
}

/** POST with a body (bytes are copied) and a Content-Type (none when `type` is undefined). */
export function post(url: string, body: string | Uint8Array | Buffer, type?: string): Promise<Answer> {
  const bytes = typeof body === 'string' ? body : Uint8Array.from(body);
  return request(url, { method: 'POST', body: bytes, headers: type ? { 'content-type': type } : {} });
}

/**
 * A POST on its own connection whose body is sent in two parts: the first `split` bytes at once, the rest when
 * finish() is called. Until then the request is in flight at the server (headers read, body incomplete).
 */
export function heldPost(
  url: string,
  body: Buffer,
  type: string,
  split: number,
): { finish: () => void; answer: Promise<{ status: number; body: Answer['body'] }> } {
  const u = new URL(url);
  const req = http.request({
    host: u.hostname,
    port: u.port,
    path: u.pathname + u.search,
    method: 'POST',
    agent: false,
    headers: { 'content-type': type, 'content-length': body.length },
  });
  const answer = new Promise<{ status: number; body: Answer['body'] }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      // As plain emitters: @fastify/busboy's types add a 'limit' overload to stream.Readable that hides the
      // others under ts-jest's compiler options.
      const events: NodeJS.EventEmitter = res;
      events.on('data', (c: string) => (text += c));
      events.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  req.write(body.subarray(0, split));
  return { finish: () => req.end(body.subarray(split)), answer };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text exposition format (0.0.4): every line is a `# HELP`/`# TYPE` comment or a sample
 * `name{label="value",…} number`. @throws Error naming the first line that is neither
 */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][\w:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][\w:]* .*$/.test(line)) continue;
    // Values as Go's ParseFloat reads them (what Prometheus uses): NaN and Inf in any case (prom-client writes 'Nan').
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (-?[\d.]+(?:e[+-]?\d+)?|nan|[+-]?inf)$/i.exec(line);
    if (!m) throw new Error(`not a Prometheus text line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2])
      for (const pair of m[2].match(/[a-zA-Z_]\w*="(?:[^"\\]|\\.)*"/g) ?? []) {
        const eq = pair.indexOf('=');
        labels[pair.slice(0, eq)] = pair.slice(eq + 2, -1);
      }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

/** The value of the one sample of `name` whose labels include `labels` (undefined when none). */
export function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

export interface ServeChild {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/**
 * Starts `node dist/cli.js serve --port 0 …` and resolves once it printed `ready` (its URL parsed from the
 * `listening on` line). @throws Error with its output when it exits first or takes longer than `timeoutMs`
 */
export async function startServe(args: string[], timeoutMs = 60000): Promise<ServeChild> {
  const c = await startCli(
    ['serve', '--port', '0', ...args],
    (out) => (/vggnet serve: ready/.test(out) ? /listening on (http:\/\/[^\s]+)/.exec(out)?.[1] : undefined),
    timeoutMs,
  );
  return { child: c.child, url: c.ready, stdout: c.stdout, stderr: c.stderr, exit: c.exit };
}
