// Backpressure with hysteresis: a level (queue size, in-flight count, durable backlog) turns the signal
// `pressured` at a high watermark and back to `open` only at a low one, so sources pause and resume
// in long strokes instead of flapping on every item.

/** `open`: sources may push. `pressured`: sources should stop until the signal opens again. */
export type PressureState = 'open' | 'pressured';

/** Called synchronously, once per change of state, with the new state. */
export type PressureListener = (state: PressureState) => void;

/** Receives an error thrown by a listener, with the state that listener was being told about. */
export type PressureListenerErrorHandler = (error: unknown, state: PressureState) => void;

export type PressureSignalOptions = {
  /** The signal turns `pressured` when the level reaches this. */
  readonly highWatermark: number;
  /** A pressured signal turns `open` again only when the level falls to this or below. */
  readonly lowWatermark: number;
  /**
   * Where listener errors go. Without it they are rethrown from a microtask (as Node's EventTarget
   * does), which surfaces them as `uncaughtException`: loud, but never inside the caller's operation.
   */
  readonly onListenerError?: PressureListenerErrorHandler;
};

/** Watermarks that do not satisfy `0 <= lowWatermark < highWatermark`, both integers. */
export class WatermarkError extends RangeError {
  readonly highWatermark: number;
  readonly lowWatermark: number;

  constructor(highWatermark: number, lowWatermark: number) {
    super(
      `invalid watermarks: need integers with 0 <= lowWatermark < highWatermark, got lowWatermark=${lowWatermark}, highWatermark=${highWatermark}`,
    );
    this.name = 'WatermarkError';
    this.highWatermark = highWatermark;
    this.lowWatermark = lowWatermark;
  }
}

type Subscription = { readonly listener: PressureListener };

type Waiter = {
  readonly resolve: () => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
};

/**
 * A two-state pressure signal driven by `update(level)`. The owner (a BoundedQueue, an in-flight
 * window) keeps `update` to itself and hands out `onPressure` and `whenOpen` to sources.
 */
export class PressureSignal {
  readonly highWatermark: number;
  readonly lowWatermark: number;
  readonly #onListenerError: PressureListenerErrorHandler | undefined;
  #state: PressureState = 'open';
  // Each subscription is its own object, so one function subscribed twice is called twice and each
  // unsubscribe removes only its own subscription.
  readonly #subscriptions = new Set<Subscription>();
  readonly #waiters = new Set<Waiter>();
  // Changes made by a listener (it shifts the queue below the low watermark while being told about
  // `pressured`) are delivered after the current change has reached every listener, so all listeners
  // see the changes in the order they happened.
  readonly #pending: PressureState[] = [];
  #dispatching = false;

  constructor(options: PressureSignalOptions) {
    const { highWatermark, lowWatermark } = options;
    if (
      !Number.isSafeInteger(highWatermark) ||
      !Number.isSafeInteger(lowWatermark) ||
      lowWatermark < 0 ||
      lowWatermark >= highWatermark
    )
      throw new WatermarkError(highWatermark, lowWatermark);
    this.highWatermark = highWatermark;
    this.lowWatermark = lowWatermark;
    this.#onListenerError = options.onListenerError;
  }

  /** The current state; starts `open`. */
  get state(): PressureState {
    return this.#state;
  }

  /** Sources waiting in `whenOpen`. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Feeds the current level; changes state (and tells listeners) when it crosses a watermark. */
  update(level: number): void {
    if (this.#state === 'open' ? level < this.highWatermark : level > this.lowWatermark) return;
    this.#state = this.#state === 'open' ? 'pressured' : 'open';
    this.#pending.push(this.#state);
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      // Indexed, because #dispatch may append to #pending while we walk it.
      for (let i = 0; i < this.#pending.length; i++) {
        const next = this.#pending[i];
        if (next !== undefined) this.#dispatch(next);
      }
    } finally {
      this.#pending.length = 0;
      this.#dispatching = false;
    }
  }

  /**
   * Calls `listener` synchronously on every change of state (not with the current state). Returns a
   * function that unsubscribes; calling it again does nothing.
   */
  onPressure(listener: PressureListener): () => void {
    const subscription: Subscription = { listener };
    this.#subscriptions.add(subscription);
    return () => {
      this.#subscriptions.delete(subscription);
    };
  }

  /**
   * Resolves at once when open, otherwise when the signal next opens. Rejects with `signal.reason`
   * when `signal` aborts first, or at once if it is already aborted. Opening is a hint, not a
   * reservation: another source may fill the room before this one runs, so callers still check the
   * result of their push.
   */
  whenOpen(signal?: AbortSignal): Promise<void> {
    if (this.#state === 'open' && !signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      // Throwing in the executor rejects with `signal.reason` itself, as fetch and timers/promises do.
      signal?.throwIfAborted();
      const waiter: Waiter = {
        resolve,
        signal,
        onAbort: () => {
          this.#waiters.delete(waiter);
          // The platform contract is to reject with whatever the reason is, Error or not.
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          reject(signal?.reason);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
    });
  }

  #dispatch(state: PressureState): void {
    const errors: unknown[] = [];
    // A snapshot, so a listener subscribing during dispatch hears only later changes; one that is
    // unsubscribed during dispatch is skipped.
    for (const subscription of [...this.#subscriptions]) {
      if (!this.#subscriptions.has(subscription)) continue;
      try {
        subscription.listener(state);
      } catch (error) {
        errors.push(error);
      }
    }
    if (state === 'open') this.#releaseWaiters();
    for (const error of errors) this.#report(error, state);
  }

  #releaseWaiters(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) {
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve();
    }
  }

  #report(error: unknown, state: PressureState): void {
    const handler = this.#onListenerError;
    if (handler === undefined) return rethrowLater(error);
    try {
      handler(error, state);
    } catch (handlerError) {
      rethrowLater(new AggregateError([error, handlerError], 'a pressure listener and its error handler both threw'));
    }
  }
}

function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
