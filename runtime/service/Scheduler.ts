// Durable sendAt timers: the timer is the message's send_at column, so it survives a restart. Every
// tick the scheduler reads the accepted messages that fell due since the last tick (indexed, in
// (send_at, id) order, a batch at a time) and routes them the normal way, through their recipient's
// actor. Recovery at start routes what was due by then; the scheduler takes over from that instant.
// A routed message lost on its way is found again by the backlog sweeper.
import type { Logger } from '../logging/createLogger.ts';
import type { MessageStore, PendingMessage, ScheduleCursor } from '../messages/MessageStore.ts';
import type { Clock, TimerHandle } from '../time/Clock.ts';

export type SchedulerOptions = {
  readonly store: Pick<MessageStore, 'dueScheduled'>;
  readonly deliver: (message: PendingMessage) => void;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Messages due at or before this instant (epoch ms) were routed already (by recovery at start). */
  readonly from: number;
  /** Pause between ticks. Default 1,000 ms. */
  readonly everyMs?: number;
  /** Most messages read per query; a full batch is followed at once by the next. Default 1,000. */
  readonly batch?: number;
};

export type SchedulerStatus = 'idle' | 'running' | 'stopped';

// The largest uuid: the cursor (t, MAX_ID) comes after every message due at t.
const MAX_ID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #everyMs: number;
  readonly #batch: number;
  #cursor: ScheduleCursor;
  #status: SchedulerStatus = 'idle';
  #timer: TimerHandle | undefined;
  #ticking: Promise<number> | undefined;
  #routed = 0;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#everyMs = options.everyMs ?? 1_000;
    this.#batch = options.batch ?? 1_000;
    this.#cursor = { sendAt: options.from, id: MAX_ID };
  }

  get status(): SchedulerStatus {
    return this.#status;
  }

  /** Messages routed since start. */
  get routed(): number {
    return this.#routed;
  }

  start(): void {
    if (this.#status !== 'idle') return;
    this.#status = 'running';
    this.#arm(this.#everyMs);
  }

  /** Stops ticking; resolves once a tick in progress has finished. Idempotent. */
  async stop(): Promise<void> {
    this.#status = 'stopped';
    if (this.#timer) this.#options.clock.clearTimeout(this.#timer);
    await this.#ticking?.catch(() => 0);
  }

  /**
   * Routes the messages that fell due since the last tick, up to one batch; returns how many. Ticks
   * never overlap: a call during a tick waits for it.
   */
  tick(): Promise<number> {
    this.#ticking ??= this.#routeDue().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #routeDue(): Promise<number> {
    const now = this.#options.clock.now();
    const due = await this.#options.store.dueScheduled(this.#cursor, now, this.#batch);
    for (const message of due) this.#options.deliver(message);
    this.#routed += due.length;
    const last = due.at(-1);
    // A short batch means everything due by `now` is routed; a full one, that more may follow.
    this.#cursor =
      due.length < this.#batch || last === undefined
        ? { sendAt: now, id: MAX_ID }
        : { sendAt: last.sendAt, id: last.id };
    if (due.length > 0) this.#options.logger.debug({ count: due.length }, 'routed scheduled messages that fell due');
    return due.length;
  }

  #arm(delayMs: number): void {
    if (this.#status !== 'running') return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.tick()
        .then((count) => this.#arm(count >= this.#batch ? 0 : this.#everyMs))
        .catch((error: unknown) => {
          this.#options.logger.warn({ err: error }, 'scheduler tick failed; will try again');
          this.#arm(this.#everyMs);
        });
    }, delayMs);
  }
}
