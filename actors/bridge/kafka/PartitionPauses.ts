// Partitions paused because the channel of their next record is pushed back, each resumed when that
// channel opens again. Only the partition that brought the channel's sends stops; the others flow.
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import { CHANNELS, type Channel } from '../../../runtime/messages/sendRequest.ts';
import type { SendIntake } from '../SendIntake.ts';

/** What of a kafkajs consumer pausing needs. */
export type PausableConsumer = {
  pause(topicPartitions: Array<{ topic: string; partitions: number[] }>): void;
  resume(topicPartitions: Array<{ topic: string; partitions: number[] }>): void;
};

export type PartitionPausesOptions = {
  readonly topic: string;
  readonly consumer: PausableConsumer;
  readonly intake: Pick<SendIntake, 'isOpen' | 'onPressure'>;
  readonly logger: Logger;
  /** A resume that failed: the partition would stay paused, so the connection is reopened instead. */
  readonly onError: (error: Error) => void;
};

export class PartitionPauses {
  readonly #options: PartitionPausesOptions;
  /** Paused partition → the channel it waits for. */
  readonly #waiting = new Map<number, Channel>();
  readonly #unsubscribe: Array<() => void>;
  #stopped = false;

  constructor(options: PartitionPausesOptions) {
    this.#options = options;
    this.#unsubscribe = CHANNELS.map((channel) =>
      options.intake.onPressure(channel, (state) => {
        if (state === 'open') this.#resume(channel);
      }),
    );
  }

  /**
   * Pauses `partition` until `channel` opens. Returns false (and pauses nothing) when the channel has
   * opened meanwhile, so the caller just lets the record be read again.
   */
  pause(partition: number, channel: Channel): boolean {
    if (this.#stopped || this.#options.intake.isOpen(channel)) return false;
    this.#options.consumer.pause([{ topic: this.#options.topic, partitions: [partition] }]);
    this.#waiting.set(partition, channel);
    this.#options.logger.info(
      { topic: this.#options.topic, partition, channel },
      'channel pushed back; partition paused',
    );
    return true;
  }

  /** Paused partitions, ascending. */
  paused(): number[] {
    return [...this.#waiting.keys()].sort((a, b) => a - b);
  }

  /** Stops listening to the channels; partitions stay as they are (the consumer is closing). */
  stop(): void {
    this.#stopped = true;
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
  }

  #resume(channel: Channel): void {
    if (this.#stopped) return;
    const partitions = [...this.#waiting].filter(([, waitsFor]) => waitsFor === channel).map(([p]) => p);
    if (partitions.length === 0) return;
    for (const partition of partitions) this.#waiting.delete(partition);
    // Called from inside the backlog's pressure signal: a throw here would land in its listener-error
    // handler, so it is reported as what it is instead.
    try {
      this.#options.consumer.resume([{ topic: this.#options.topic, partitions }]);
      this.#options.logger.info(
        { topic: this.#options.topic, partitions, channel },
        'channel open; partitions resumed',
      );
    } catch (error) {
      this.#options.logger.error({ err: error, topic: this.#options.topic, partitions }, 'could not resume partitions');
      this.#options.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
