// Each channel's durable backlog — messages accepted and not yet finished — with a pressure signal:
// above the limit its sources are pushed back (HTTP 429, paused partitions, unacked queues) for that
// channel only. Kept in memory on every accept and finish, and reconciled with PostgreSQL now and then.
import { type PressureListener, PressureSignal, type PressureState } from '../../runtime/flow/PressureSignal.ts';
import { CHANNELS, type Channel } from '../../runtime/messages/sendRequest.ts';

export type ChannelBacklogOptions = {
  /** Backlog at which a channel is pushed back. */
  readonly limit: number;
  /** Backlog at which the push-back ends (hysteresis); 80% of the limit by default. */
  readonly resumeAt?: number;
  readonly onListenerError: (error: unknown, channel: Channel) => void;
};

export class ChannelBacklog {
  readonly limit: number;
  readonly #counts = new Map<Channel, number>();
  readonly #signals = new Map<Channel, PressureSignal>();

  constructor(options: ChannelBacklogOptions) {
    this.limit = options.limit;
    const resumeAt = options.resumeAt ?? Math.floor(options.limit * 0.8);
    for (const channel of CHANNELS) {
      this.#counts.set(channel, 0);
      this.#signals.set(
        channel,
        new PressureSignal({
          highWatermark: options.limit,
          lowWatermark: resumeAt,
          onListenerError: (error) => options.onListenerError(error, channel),
        }),
      );
    }
  }

  count(channel: Channel): number {
    return this.#counts.get(channel) ?? 0;
  }

  pressure(channel: Channel): PressureState {
    return this.#signal(channel).state;
  }

  /** Calls `listener` on every change of the channel's pressure; returns the unsubscribe function. */
  onPressure(channel: Channel, listener: PressureListener): () => void {
    return this.#signal(channel).onPressure(listener);
  }

  added(channel: Channel, count = 1): void {
    this.#set(channel, this.count(channel) + count);
  }

  finished(channel: Channel, count = 1): void {
    this.#set(channel, Math.max(0, this.count(channel) - count));
  }

  /** Replaces the counts with those read from the store. */
  reconcile(counts: Readonly<Partial<Record<Channel, number>>>): void {
    for (const channel of CHANNELS) this.#set(channel, counts[channel] ?? 0);
  }

  #set(channel: Channel, count: number): void {
    this.#counts.set(channel, count);
    this.#signal(channel).update(count);
  }

  #signal(channel: Channel): PressureSignal {
    const signal = this.#signals.get(channel);
    if (signal === undefined) throw new Error(`no backlog for channel ${channel}`);
    return signal;
  }
}
