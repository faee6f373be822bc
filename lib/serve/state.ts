/**
 * The server's model and its lifecycle: 'loading' (live, not ready: no model yet) → 'ready' → 'draining'
 * (shutdown began: not ready, new work refused, admitted work finishes) → 'closed'.
 */
import { BusyError, Classifier } from '../index';

export type ServeState = 'loading' | 'ready' | 'draining' | 'closed';

export class ModelSlot {
  private current: ServeState = 'loading';
  private held: Classifier | undefined;
  private modelName: string | undefined;

  /** @param name  the model's name in KServe routes; default: the architecture's name when attached */
  constructor(name?: string) {
    this.modelName = name;
  }

  get state(): ServeState {
    return this.current;
  }

  get ready(): boolean {
    return this.current === 'ready';
  }

  /** The model's name in routes, once known (given, or the architecture's name when attached). */
  get name(): string | undefined {
    return this.modelName;
  }

  /** The classifier, once attached (still there while draining, so admitted work can finish). */
  get classifier(): Classifier | undefined {
    return this.held;
  }

  /** loading → ready with this classifier. A classifier that arrives after shutdown began is not kept. */
  attach(c: Classifier): boolean {
    if (this.current !== 'loading') return false;
    this.held = c;
    this.modelName ??= c.model.config.name;
    this.current = 'ready';
    return true;
  }

  /**
   * Admits a request that will compute (classify, infer): only when ready.
   * @throws BusyError when the model is still loading or the server is shutting down (a 503 + Retry-After)
   */
  admit(): Classifier {
    if (this.current === 'ready') return this.held!;
    throw this.notReadyError();
  }

  /** Why the server is not ready now, as the BusyError that a refused request gets. */
  notReadyError(): BusyError {
    return new BusyError(
      this.current === 'loading'
        ? 'not ready: the model is still loading; retry later'
        : 'not ready: the server is shutting down; retry on another instance',
    );
  }

  /** ready/loading → draining. */
  drain(): void {
    if (this.current === 'loading' || this.current === 'ready') this.current = 'draining';
  }

  /** → closed; frees the model. */
  close(): void {
    this.current = 'closed';
    this.held?.model.dispose();
  }
}
