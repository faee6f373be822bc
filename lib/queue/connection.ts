/** Redis connections for BullMQ from a `redis://` URL, and the URL as it may be printed. */
import type { ConnectionOptions } from 'bullmq';

import { InvalidArgumentError } from '../index';

/** A Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS), or BullMQ's own connection options. */
export type RedisConnection = string | ConnectionOptions;

/**
 * BullMQ connection options for a Redis URL.
 * @param blocking  a worker's connection: commands wait for Redis to come back instead of failing
 *   (BullMQ requires maxRetriesPerRequest null for workers); a producer's fails its commands after
 *   ioredis's retries, so a CLI does not hang on a dead Redis
 * @throws InvalidArgumentError for a string that is not a redis:// or rediss:// URL
 */
export function connectionOptions(redis: RedisConnection, blocking: boolean): ConnectionOptions {
  if (typeof redis !== 'string') return redis;
  let url: URL;
  try {
    url = new URL(redis);
  } catch {
    throw new InvalidArgumentError(`redis: expected a URL redis://host:port, got ${JSON.stringify(redis)}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new InvalidArgumentError(`redis: expected a redis:// or rediss:// URL, got '${url.protocol}'`);
  return { url: redis, ...(blocking ? { maxRetriesPerRequest: null } : {}) };
}

/** A Redis URL with its password replaced by '***', for logs. Other connection options print as '(options)'. */
export function shownConnection(redis: RedisConnection): string {
  if (typeof redis !== 'string') return '(connection options)';
  try {
    const url = new URL(redis);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return redis;
  }
}

/**
 * Checks a BullMQ queue name: non-empty, at most 200 characters, without ':' (BullMQ's key separator).
 * @throws InvalidArgumentError
 */
export function checkQueueName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200 || name.includes(':'))
    throw new InvalidArgumentError(
      `queue: expected a name of 1 to 200 characters without ':', got ${JSON.stringify(name) ?? typeof name}`,
    );
  return name;
}
