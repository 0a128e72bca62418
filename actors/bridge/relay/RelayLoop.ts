// One connection's worth of relaying: read the oldest unpublished outbox rows, publish them to every
// broker, mark them once all have confirmed, repeat. Any failure ends the loop and is reported once
// through `fail`; the bridge actor then closes this loop and opens a new one with backoff.
import type { DatabasePool } from 'slonik';
import { z } from 'zod';
import type { GaugeValue } from '../../../runtime/kernel/ActorRef.ts';
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import { translateStoreError } from '../../../runtime/persistence/StoreError.ts';
import type { Clock, TimerHandle } from '../../../runtime/time/Clock.ts';
import type { BridgeConnection } from '../BridgeActor.ts';
import type { BrokerName, EventPublisher, OutboxEvent } from './EventPublisher.ts';
import type { OutboxBacklog } from './OutboxBacklog.ts';
import { markPublished, type OutboxRow, selectUnpublished } from './outboxSql.ts';

/**
 * `running` → `stopping` (close asked: the batch in hand finishes) → `stopped`; or `running` →
 * `failed` (a broker or the store failed: nothing more is published on this connection).
 */
export type RelayStatus = 'running' | 'stopping' | 'stopped' | 'failed';

/** Counts that outlive a connection: the relay's totals since the process started. */
export type RelayTotals = {
  /** Outbox rows marked published. */
  published: number;
  /** Events each broker confirmed, republished ones included. */
  confirmed: Record<BrokerName, number>;
};

export type RelayLoopOptions = {
  readonly pool: DatabasePool;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly batchSize: number;
  readonly idleMs: number;
  /** How long `close` waits for the batch in hand before disconnecting under it. */
  readonly drainMs: number;
  readonly publishers: readonly EventPublisher[];
  readonly backlog: OutboxBacklog;
  readonly totals: RelayTotals;
  readonly fail: (error: Error) => void;
};

// A routing key is `delivery.<status>.<channel>`: each part has to be a single topic word.
const WORD = /^[A-Za-z0-9_-]+$/;
const routingFields = z.object({ status: z.string().regex(WORD), channel: z.string().regex(WORD) });

export class RelayLoop implements BridgeConnection {
  readonly #options: RelayLoopOptions;
  #status: RelayStatus = 'running';
  #loop: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: RelayLoopOptions) {
    this.#options = options;
  }

  get status(): RelayStatus {
    return this.#status;
  }

  /** Starts relaying in the background; the loop never rejects (failures go to `fail`). */
  start(): void {
    this.#loop = this.#run();
  }

  /** A broker connection broke outside a publish (or during one): stop and report it. */
  broken(error: Error): void {
    if (this.#status !== 'running') {
      this.#options.logger.debug({ err: error }, 'event relay: connection closed while stopping');
      return;
    }
    this.#status = 'failed';
    this.#wake?.();
    this.#options.logger.warn({ err: error }, 'event relay: stopped publishing; reconnecting with backoff');
    this.#options.fail(error);
  }

  stats(): Readonly<Record<string, GaugeValue>> {
    const { backlog, publishers, totals } = this.#options;
    // While nothing is published (an outage, backoff) only a count keeps the lag live; it never rejects.
    if (this.#status === 'failed') void backlog.refresh();
    const { lag, oldestAgeMs } = backlog.figures;
    const figures: Record<string, GaugeValue> = {
      status: this.#status,
      published: totals.published,
      lag,
      oldestUnpublishedAgeMs: oldestAgeMs,
    };
    for (const publisher of publishers) {
      figures[publisher.broker] = this.#status === 'stopped' ? 'disconnected' : publisher.state;
      figures[`${publisher.broker}Published`] = totals.confirmed[publisher.broker];
    }
    return figures;
  }

  /** Finishes the batch in hand (up to `drainMs`), then disconnects every broker. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    const { logger, publishers, drainMs } = this.#options;
    if (this.#status === 'running') this.#status = 'stopping';
    this.#wake?.();
    if (!(await this.#settlesWithin(this.#loop, drainMs)))
      logger.warn({ drainMs }, 'event relay: the batch in hand did not finish in time; disconnecting under it');
    const results = await Promise.allSettled(publishers.map((publisher) => publisher.close()));
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      // After a failure the connection is usually gone already, and closing it again is expected to fail.
      if (this.#status === 'failed') logger.debug({ err: result.reason }, 'event relay: close after a failure failed');
      else logger.warn({ err: result.reason }, 'event relay: a broker connection did not close cleanly');
    }
    if (this.#status === 'stopping') this.#status = 'stopped';
  }

  async #run(): Promise<void> {
    while (this.#status === 'running') {
      let full: boolean;
      try {
        full = await this.#relayBatch();
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        if (this.#status === 'running') this.broken(failure);
        else if (this.#status === 'stopping')
          this.#options.logger.warn({ err: failure }, 'event relay: the last batch failed while stopping');
        // Already `failed`: the broken connection was reported when it broke; this is its consequence.
        else this.#options.logger.debug({ err: failure }, 'event relay: the batch in hand failed with its connection');
        return;
      }
      if (!full && this.#status === 'running') await this.#idle();
    }
  }

  /** Publishes the oldest unpublished rows; true when the batch was full (more may be waiting). */
  async #relayBatch(): Promise<boolean> {
    const { pool, batchSize, publishers, backlog, totals, logger } = this.#options;
    const rows = await pool.any(selectUnpublished(batchSize)).catch((error: unknown) => {
      throw translateStoreError(error, 'read the outbox');
    });
    backlog.sawBatch(rows.length, batchSize, rows[0]?.created_at ?? null);
    if (rows.length === 0) return false;

    const events = rows.map((row) => this.#toEvent(row));
    // Every broker gets the whole batch, concurrently; rows are marked only if all of them confirmed.
    const results = await Promise.allSettled(publishers.map((publisher) => publisher.publish(events)));
    const failures: unknown[] = [];
    results.forEach((result, i) => {
      const broker = (publishers[i] as EventPublisher).broker;
      if (result.status === 'fulfilled') totals.confirmed[broker] += events.length;
      else failures.push(result.reason);
    });
    if (failures.length > 0) {
      for (const extra of failures.slice(1)) logger.warn({ err: extra }, 'event relay: a second broker failed too');
      throw failures[0];
    }

    await pool.query(markPublished(rows.map((row) => row.id))).catch((error: unknown) => {
      // Published but not marked: the rows go out again after the reconnect (at-least-once).
      throw translateStoreError(error, 'mark outbox rows published');
    });
    totals.published += rows.length;
    backlog.published(rows.length);
    const full = rows.length === batchSize;
    if (full) await backlog.refresh();
    return full;
  }

  #toEvent(row: OutboxRow): OutboxEvent {
    const id = String(row.id);
    const fields = routingFields.safeParse(row.event);
    if (!fields.success) {
      // Holding the row back would stall every event behind it; publish it where it can be found.
      this.#options.logger.error(
        { outboxId: id, issues: fields.error.issues.map((issue) => issue.path.join('.')) },
        'event relay: an outbox event has no usable status or channel; publishing it as delivery.unknown.unknown',
      );
    }
    const { status, channel } = fields.success ? fields.data : { status: 'unknown', channel: 'unknown' };
    return {
      id,
      recipientId: row.recipient_id,
      routingKey: `delivery.${status}.${channel}`,
      body: JSON.stringify(row.event),
    };
  }

  /** Waits `idleMs` on the injected clock; `close` or a failure cuts the wait short. */
  #idle(): Promise<void> {
    const { clock, idleMs } = this.#options;
    return new Promise((resolve) => {
      const wake = () => {
        clock.clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer: TimerHandle = clock.setTimeout(wake, idleMs);
      this.#wake = wake;
    });
  }

  /** True when `promise` settles within `ms` on the injected clock. */
  #settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
    const { clock } = this.#options;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(() => resolve(false), ms);
      void promise.finally(() => {
        clock.clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
