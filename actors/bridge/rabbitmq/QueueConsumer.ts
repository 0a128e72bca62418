// One channel queue's consumer: its own amqplib channel (in confirm mode, for its dead letters) and
// prefetch window. Deliveries are collected into groups, accepted through the intake and acked only
// once durable. While its channel is pushed back they are held unacked, so the window closes and the
// broker stops sending this queue, and only this queue.
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import type { Channel, SendRequest } from '../../../runtime/messages/sendRequest.ts';
import type { Clock, TimerHandle } from '../../../runtime/time/Clock.ts';
import type { IntakeOutcome, SendIntake } from '../SendIntake.ts';
import { AmqpError, translateAmqpError } from './AmqpError.ts';
import { DEAD_LETTER_ID_HEADER, deadLetterOptions, tenantOf } from './ingestHeaders.ts';

/** What a consumer needs of the intake. */
export type QueueIntake = Pick<SendIntake, 'parse' | 'isOpen' | 'onPressure' | 'accept'>;

export type QueueConsumerOptions = {
  readonly channel: Channel;
  readonly queue: string;
  readonly deadLetterExchange: string;
  readonly intake: QueueIntake;
  readonly prefetch: number;
  /** Most deliveries accepted as one group. */
  readonly batchSize: number;
  /** Longest a delivery waits for its group to fill. */
  readonly batchDelayMs: number;
  /** Pause before a delivery the store could not take is handed back to the broker. */
  readonly retryAfterMs: number;
  /** Longest stop() waits for the groups in hand before it closes the channel under them. */
  readonly drainTimeoutMs: number;
  /** Tenant of deliveries without the tenant header. */
  readonly tenant: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The channel broke, or the consumer can no longer work: the connection must be reopened. */
  readonly onBroken: (error: Error) => void;
};

export type QueueConsumerStats = {
  /** Deliveries durably accepted and acked. */
  readonly accepted: number;
  /** Deliveries dead-lettered (unparseable, invalid, wrong queue) and acked. */
  readonly invalid: number;
  /** Deliveries handed back to the broker because the store could not take them. */
  readonly requeued: number;
  /** Deliveries held unaccepted while the channel is pushed back. */
  readonly held: number;
  /** Deliveries received and not yet acked or handed back. */
  readonly inFlight: number;
  /** True while the channel is pushed back and deliveries are held. */
  readonly paused: boolean;
};

/** The intake threw instead of answering per item: a bug, not an outage; the bridge restarts. */
export class IntakeFailureError extends Error {
  readonly queue: string;
  constructor(queue: string, cause: unknown) {
    super(`${queue}: the intake failed while accepting a group`, { cause });
    this.name = 'IntakeFailureError';
    this.queue = queue;
  }
}

type Status = 'idle' | 'consuming' | 'stopping' | 'stopped';

type Classified =
  | { readonly kind: 'send'; readonly tenant: string; readonly request: SendRequest }
  | { readonly kind: 'dead'; readonly reason: string };

export class QueueConsumer {
  readonly #options: QueueConsumerOptions;
  readonly #log: Logger;
  #status: Status = 'idle';
  #amqp: ConfirmChannel | undefined;
  #consumerTag: string | undefined;
  #unsubscribe: (() => void) | undefined;
  /** Deliveries waiting for their group to fill or its delay to pass. */
  #collected: ConsumeMessage[] = [];
  #collectTimer: TimerHandle | undefined;
  /** Deliveries held unaccepted while the channel is pushed back. */
  #held: ConsumeMessage[] = [];
  /** Deliveries the store could not take, handed back to the broker when their timer fires. */
  readonly #retries = new Map<TimerHandle, ConsumeMessage[]>();
  readonly #groups = new Set<Promise<void>>();
  /** Dead letters the broker returned as unroutable, by their id, until their confirm arrives. */
  readonly #returned = new Set<string>();
  #deadLetterSeq = 0;
  #accepted = 0;
  #invalid = 0;
  #requeued = 0;
  #inFlight = 0;
  #paused = false;
  #stopping: Promise<void> | undefined;

  constructor(options: QueueConsumerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ queue: options.queue });
  }

  /** Opens the consumer's channel on `connection`, sets its prefetch and starts consuming. */
  async start(connection: ChannelModel): Promise<void> {
    if (this.#status !== 'idle') throw new Error(`consumer of ${this.#options.queue} was already started`);
    const { queue, intake, channel } = this.#options;
    const amqp = await connection.createConfirmChannel();
    this.#amqp = amqp;
    // An 'error' without a listener would be thrown from the socket's event handler.
    amqp.on('error', (error: unknown) => this.#broken(translateAmqpError(error, queue)));
    amqp.on('close', () => this.#broken(new AmqpError('channel closed', { code: 'CHANNEL_CLOSED', where: queue })));
    amqp.on('return', (message: Message) => {
      const headers: Readonly<Record<string, unknown>> | undefined = message.properties.headers;
      const id = headers?.[DEAD_LETTER_ID_HEADER];
      if (typeof id === 'string') this.#returned.add(id);
    });
    await amqp.prefetch(this.#options.prefetch);
    this.#unsubscribe = intake.onPressure(channel, (state) => {
      // Told synchronously from inside whoever finished work on the channel: release from a microtask.
      if (state === 'open') queueMicrotask(() => this.#flush());
    });
    this.#status = 'consuming';
    const { consumerTag } = await amqp.consume(queue, (message) => this.#received(message), { noAck: false });
    this.#consumerTag = consumerTag;
  }

  stats(): QueueConsumerStats {
    return {
      accepted: this.#accepted,
      invalid: this.#invalid,
      requeued: this.#requeued,
      held: this.#held.length,
      inFlight: this.#inFlight,
      paused: this.#paused,
    };
  }

  /**
   * Cancels the consumer, finishes the groups in hand (held and waiting deliveries go back to the
   * broker at once), and closes the channel. Idempotent; never rejects.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const wasConsuming = this.#status === 'consuming';
    this.#status = 'stopping';
    this.#unsubscribe?.();
    const amqp = this.#amqp;
    if (amqp !== undefined && wasConsuming && this.#consumerTag !== undefined) {
      // On a broken channel this fails at once; the broker has dropped the consumer with the channel.
      await amqp.cancel(this.#consumerTag).catch(() => {});
    }
    // Deliveries that arrived before the cancel took effect form the last groups.
    this.#flush();
    this.#nack(this.#held.splice(0));
    this.#paused = false;
    for (const [timer, deliveries] of this.#retries) {
      this.#options.clock.clearTimeout(timer);
      this.#nack(deliveries);
    }
    this.#retries.clear();
    if (!(await this.#drained(this.#options.drainTimeoutMs))) {
      // A dead letter waiting for a confirm from a blocked broker: closing the channel fails it, and
      // its delivery goes back to the queue with the channel.
      this.#log.warn({ drainTimeoutMs: this.#options.drainTimeoutMs }, 'groups still in hand; closing the channel');
    }
    await amqp?.close().catch(() => {});
    await this.#drained(undefined);
    this.#status = 'stopped';
  }

  /** Waits until no group is in hand (or `timeoutMs` passes: false). */
  async #drained(timeoutMs: number | undefined): Promise<boolean> {
    const { clock } = this.#options;
    let timer: TimerHandle | undefined;
    const deadline = new Promise<false>((resolve) => {
      if (timeoutMs !== undefined) timer = clock.setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      while (this.#groups.size > 0) {
        if ((await Promise.race([Promise.all(this.#groups), deadline])) === false) return false;
      }
      return true;
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
  }

  #broken(error: AmqpError): void {
    if (this.#status === 'stopping' || this.#status === 'stopped') return;
    this.#options.onBroken(error);
  }

  #received(message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (its queue was deleted): nothing more comes on this channel.
      this.#broken(
        new AmqpError('consumer cancelled by the broker', { code: 'CONSUMER_CANCELLED', where: this.#options.queue }),
      );
      return;
    }
    this.#inFlight++;
    this.#collected.push(message);
    if (this.#collected.length >= this.#options.batchSize) this.#flush();
    else this.#collectTimer ??= this.#options.clock.setTimeout(() => this.#flush(), this.#options.batchDelayMs);
  }

  /** Starts groups from what is collected (and what was held), or holds it all while pushed back. */
  #flush(): void {
    if (this.#collectTimer !== undefined) {
      this.#options.clock.clearTimeout(this.#collectTimer);
      this.#collectTimer = undefined;
    }
    const collected = this.#collected;
    this.#collected = [];
    if (this.#status === 'stopped') return;
    if (!this.#options.intake.isOpen(this.#options.channel)) {
      if (this.#status === 'stopping') {
        this.#nack(collected);
        return;
      }
      this.#held.push(...collected);
      if (this.#held.length > 0 && !this.#paused) {
        this.#paused = true;
        this.#log.info({ channel: this.#options.channel }, 'channel pushed back: holding deliveries unacked');
      }
      return;
    }
    const ready = this.#held.length > 0 ? [...this.#held.splice(0), ...collected] : collected;
    if (this.#paused) this.#log.info({ released: ready.length }, 'channel open again: accepting held deliveries');
    this.#paused = false;
    for (let i = 0; i < ready.length; i += this.#options.batchSize) {
      const group = this.#settle(ready.slice(i, i + this.#options.batchSize)).catch((error: unknown) =>
        this.#options.onBroken(new IntakeFailureError(this.#options.queue, error)),
      );
      this.#groups.add(group);
      void group.finally(() => this.#groups.delete(group));
    }
  }

  /** Accepts one group: dead letters for what is not a send, per-tenant acceptance for the rest. */
  async #settle(deliveries: readonly ConsumeMessage[]): Promise<void> {
    const byTenant = new Map<string, Array<{ delivery: ConsumeMessage; request: SendRequest }>>();
    const dead: Array<Promise<void>> = [];
    for (const delivery of deliveries) {
      const classified = this.#classify(delivery);
      if (classified.kind === 'dead') {
        dead.push(this.#deadLetter(delivery, classified.reason));
        continue;
      }
      let items = byTenant.get(classified.tenant);
      if (items === undefined) byTenant.set(classified.tenant, (items = []));
      items.push({ delivery, request: classified.request });
    }
    await Promise.all([...dead, ...[...byTenant].map(([tenant, items]) => this.#accept(tenant, items))]);
  }

  #classify(delivery: ConsumeMessage): Classified {
    const { channel, queue, intake, tenant: fallback } = this.#options;
    const tenant = tenantOf(delivery, fallback);
    if (!tenant.ok) return { kind: 'dead', reason: tenant.reason };
    const parsed = intake.parse(delivery.content);
    if (!parsed.ok) return { kind: 'dead', reason: parsed.reason };
    if (parsed.request.channel !== channel) {
      return {
        kind: 'dead',
        reason: `channel: a ${parsed.request.channel} send arrived on ${queue}, the queue of channel ${channel}`,
      };
    }
    return { kind: 'send', tenant: tenant.tenant, request: parsed.request };
  }

  async #accept(
    tenant: string,
    items: ReadonlyArray<{ delivery: ConsumeMessage; request: SendRequest }>,
  ): Promise<void> {
    let outcomes: IntakeOutcome[];
    try {
      outcomes = await this.#options.intake.accept(
        tenant,
        items.map((item) => item.request),
      );
    } catch (error) {
      // Left unacked: closing the channel on the restart hands them back to the broker.
      this.#options.onBroken(new IntakeFailureError(this.#options.queue, error));
      return;
    }
    const dead: Array<Promise<void>> = [];
    const retry: ConsumeMessage[] = [];
    let unavailable: Error | undefined;
    outcomes.forEach((outcome, i) => {
      const delivery = (items[i] as { delivery: ConsumeMessage }).delivery;
      switch (outcome.kind) {
        case 'accepted':
          if (this.#ack(delivery)) this.#accepted++;
          return;
        case 'invalid':
          dead.push(this.#deadLetter(delivery, outcome.reason));
          return;
        case 'unavailable':
          unavailable ??= outcome.error;
          retry.push(delivery);
          return;
      }
    });
    if (retry.length > 0) {
      this.#log.warn(
        { err: unavailable, count: retry.length, retryAfterMs: this.#options.retryAfterMs },
        'store unavailable: handing deliveries back to the broker after a pause',
      );
      this.#requeueLater(retry);
    }
    await Promise.all(dead);
  }

  /**
   * Publishes the delivery to the DLX with the reason (awaiting the broker's confirm), then acks it.
   * A plain reject could not carry the reason. When the broker does not take the dead letter, the
   * delivery goes back to the queue after a pause, never dropped.
   */
  async #deadLetter(delivery: ConsumeMessage, reason: string): Promise<void> {
    const { queue, deadLetterExchange } = this.#options;
    const id = `${queue}#${++this.#deadLetterSeq}`;
    try {
      await new Promise<void>((resolve, reject) => {
        const amqp = this.#amqp;
        if (amqp === undefined) throw new Error('no channel');
        amqp.publish(
          deadLetterExchange,
          delivery.fields.routingKey,
          delivery.content,
          deadLetterOptions(delivery, { reason, queue, id }),
          (error: unknown) => {
            if (this.#returned.delete(id)) reject(new Error(`no queue is bound to ${deadLetterExchange}`));
            else if (error) reject(translateAmqpError(error, queue));
            else resolve();
          },
        );
      });
    } catch (error) {
      this.#log.error({ err: error, reason }, 'could not dead-letter a delivery; handing it back to the broker');
      this.#requeueLater([delivery]);
      return;
    }
    if (this.#ack(delivery)) this.#invalid++;
  }

  #requeueLater(deliveries: ConsumeMessage[]): void {
    this.#requeued += deliveries.length;
    if (this.#status !== 'consuming') {
      this.#nack(deliveries);
      return;
    }
    // Unacked meanwhile, they keep the prefetch window closed: the broker does not hand them (or
    // others) straight back while the store is down.
    const timer = this.#options.clock.setTimeout(() => {
      this.#retries.delete(timer);
      this.#nack(deliveries);
    }, this.#options.retryAfterMs);
    this.#retries.set(timer, deliveries);
  }

  /** Acks; false when the channel is gone (the broker then hands the delivery out again). */
  #ack(delivery: ConsumeMessage): boolean {
    this.#inFlight--;
    try {
      this.#amqp?.ack(delivery);
      return true;
    } catch (error) {
      this.#log.debug({ err: error }, 'ack after the channel closed; the broker redelivers it');
      return false;
    }
  }

  /** Hands deliveries back to the broker, to the head of the queue. */
  #nack(deliveries: readonly ConsumeMessage[]): void {
    for (const delivery of deliveries) {
      this.#inFlight--;
      try {
        this.#amqp?.nack(delivery, false, true);
      } catch {
        // The channel is gone: the broker has requeued every delivery it had not seen acked.
      }
    }
  }
}
