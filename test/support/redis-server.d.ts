/** Types of redis-server.js (shared with bench/queue.js, which is plain JavaScript). */
export interface RedisServer {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  pid: number;
  /** Shuts the server down (SIGTERM, no save) and removes its directory. */
  stop(): Promise<void>;
}
export function redisServerPath(): string | undefined;
export function startRedis(): Promise<RedisServer>;
