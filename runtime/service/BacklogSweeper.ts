// The durable backlog's safety net: every few seconds, messages accepted or queued that nobody has
// touched for a while (their actor failed on the store, or their hand-off was lost) are routed again.
// Actors drop what they already have, so a message found twice is still delivered once. A message
// with a sendAt counts as untouched only from its sendAt on: none is routed before it is due.
import type { Logger } from '../logging/createLogger.ts';
import type { MessageStore, PendingMessage } from '../messages/MessageStore.ts';
import type { Clock, TimerHandle } from '../time/Clock.ts';

export type BacklogSweeperOptions = {
  readonly store: MessageStore;
  readonly deliver: (message: PendingMessage) => void;
  /** Receives the store's backlog counts per channel after each sweep, to correct in-memory counts. */
  readonly reconcile?: (counts: Awaited<ReturnType<MessageStore['backlogCounts']>>) => void;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly everyMs: number;
  /** Only messages whose last change is older than this are routed again. */
  readonly olderThanMs: number;
  readonly limit: number;
};

export class BacklogSweeper {
  readonly #options: BacklogSweeperOptions;
  #timer: TimerHandle | undefined;
  #running = false;
  #stopped = false;
  #rerouted = 0;

  constructor(options: BacklogSweeperOptions) {
    this.#options = options;
  }

  /** Messages routed again since start. */
  get rerouted(): number {
    return this.#rerouted;
  }

  start(): void {
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#options.clock.clearTimeout(this.#timer);
  }

  /** One sweep; returns how many messages were routed again. */
  async sweep(): Promise<number> {
    const stale = await this.#options.store.stale(this.#options.olderThanMs, this.#options.limit);
    for (const message of stale) this.#options.deliver(message);
    this.#rerouted += stale.length;
    if (this.#options.reconcile) this.#options.reconcile(await this.#options.store.backlogCounts());
    if (stale.length > 0) this.#options.logger.info({ count: stale.length }, 'routed backlog messages again');
    return stale.length;
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#arm();
      if (this.#running) return;
      this.#running = true;
      this.sweep()
        .catch((error: unknown) => this.#options.logger.warn({ err: error }, 'backlog sweep failed; will try again'))
        .finally(() => {
          this.#running = false;
        });
    }, this.#options.everyMs);
  }
}
