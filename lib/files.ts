/** Checks on paths read from users and files, before anything opens them. */
import * as fs from 'fs';

import { InvalidArgumentError } from './errors';

/** What a non-regular file is, in words: 'a directory', 'a FIFO', …. */
function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Resolves when `file` is a regular file (after following symlinks) or does not exist (the reader's own
 * error then says so). Anything else — a FIFO or a character device would block a reader for ever, a
 * directory fails obscurely — is an InvalidArgumentError naming `what` and the kind found.
 */
export async function checkRegularFile(file: string, what: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch {
    return;
  }
  if (!st.isFile()) throw new InvalidArgumentError(`${what}: expected a regular file, got ${kindOf(st)}: ${file}`);
}
