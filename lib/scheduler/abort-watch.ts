/**
 * One 'abort' listener per signal, however many requests share it: a server may pass one long-lived
 * signal to thousands of requests (or classifyImages one signal to all its forwards). A listener per
 * request would grow the signal's listener list with the queue (and trip Node's MaxListenersExceededWarning
 * past 10); here the listener is added with the signal's first pending request and removed with its last.
 */
export class AbortWatch<R> {
  private readonly bySignal = new Map<AbortSignal, { pending: Set<R>; listener: () => void }>();

  /** @param onAbort  called for each pending request of a signal when it fires, in the order they were added */
  constructor(private readonly onAbort: (r: R) => void) {}

  add(signal: AbortSignal, r: R): void {
    let entry = this.bySignal.get(signal);
    if (!entry) {
      const pending = new Set<R>();
      const listener = () => {
        this.bySignal.delete(signal);
        for (const p of [...pending]) this.onAbort(p);
      };
      entry = { pending, listener };
      this.bySignal.set(signal, entry);
      signal.addEventListener('abort', listener, { once: true });
    }
    entry.pending.add(r);
  }

  /** The request settled: forget it; the signal's listener goes with its last request. */
  remove(signal: AbortSignal, r: R): void {
    const entry = this.bySignal.get(signal);
    if (!entry || !entry.pending.delete(r) || entry.pending.size > 0) return;
    this.bySignal.delete(signal);
    signal.removeEventListener('abort', entry.listener);
  }
}
