// The consumer group's lag on its assigned partitions (high watermark − committed offset), read from
// the broker at most once per refresh interval and served from memory in between, so introspection
// and metrics can ask for it as often as they like.
import type { Admin } from 'kafkajs';
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import type { Clock } from '../../../runtime/time/Clock.ts';

export type ConsumerLagOptions = {
  readonly admin: Pick<Admin, 'fetchTopicOffsets' | 'fetchOffsets'>;
  readonly groupId: string;
  readonly topic: string;
  readonly refreshMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
};

export class ConsumerLag {
  readonly #options: ConsumerLagOptions;
  #assigned: readonly number[] = [];
  #lag: number | null = null;
  #error: string | null = null;
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | undefined;
  #stopped = false;

  constructor(options: ConsumerLagOptions) {
    this.#options = options;
  }

  /** The partitions this member was given at its latest join. */
  assign(partitions: readonly number[]): void {
    this.#assigned = [...partitions].sort((a, b) => a - b);
    // A new assignment makes the last figure meaningless; read again on the next ask.
    this.#readAt = Number.NEGATIVE_INFINITY;
  }

  get assigned(): readonly number[] {
    return this.#assigned;
  }

  /** Why the latest read failed (the figure is then older than the refresh interval), or null. */
  get error(): string | null {
    return this.#error;
  }

  /** The last figure read (null before the first read), starting a new read when it is stale. */
  current(): number | null {
    if (
      !this.#stopped &&
      this.#reading === undefined &&
      this.#options.clock.now() - this.#readAt >= this.#options.refreshMs
    )
      this.#reading = this.#read().finally(() => {
        this.#reading = undefined;
      });
    return this.#lag;
  }

  /** Stops reading; resolves once a read under way has ended (before the admin client disconnects). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#reading;
  }

  async #read(): Promise<void> {
    const { admin, groupId, topic } = this.#options;
    this.#readAt = this.#options.clock.now();
    const assigned = this.#assigned;
    try {
      const [ends, groups] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId, topics: [topic] }),
      ]);
      const committed = new Map(
        (groups.find((group) => group.topic === topic)?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]),
      );
      let lag = 0n;
      for (const end of ends) {
        if (!assigned.includes(end.partition)) continue;
        // No commit yet: the group reads from the earliest record still kept.
        const from = committed.get(end.partition) ?? -1n;
        const position = from < 0n ? BigInt(end.low) : from;
        const behind = BigInt(end.high) - position;
        if (behind > 0n) lag += behind;
      }
      this.#lag = Number(lag);
      this.#error = null;
    } catch (error) {
      // The figure is only informative (the consumer reports a broken connection on its own), so a
      // failed read shows in the stats as a stale figure with its reason.
      this.#error = error instanceof Error ? error.message : String(error);
      this.#options.logger.debug({ err: error, topic, groupId }, 'could not read the consumer lag');
    }
  }
}
