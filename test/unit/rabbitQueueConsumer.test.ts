// QueueConsumer against a fake amqplib channel and a real SendIntake over a controllable store:
// grouping, tenants, dead letters (confirmed, refused, returned), the store being down, push-back,
// and stop() handing back what it cannot finish.
import { EventEmitter } from 'node:events';
import type { ChannelModel, ConsumeMessage, Options } from 'amqplib';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { IntakeFailureError, QueueConsumer } from '../../actors/bridge/rabbitmq/QueueConsumer.ts';
import { SendIntake } from '../../actors/bridge/SendIntake.ts';
import { ChannelBacklog } from '../../actors/channel/ChannelBacklog.ts';
import type { AcceptItem, AcceptResult } from '../../runtime/messages/MessageStore.ts';
import { StoreUnavailableError } from '../../runtime/persistence/StoreError.ts';
import { FakeClock } from '../../runtime/time/FakeClock.ts';

const tick = () => new Promise((resolve) => setImmediate(resolve));

type Published = {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  confirm: (error?: Error) => void;
};

/** The slice of an amqplib ConfirmChannel the consumer uses, recording what it is asked to do. */
class FakeChannel extends EventEmitter {
  prefetchCount = 0;
  consumer: ((message: ConsumeMessage | null) => void) | undefined;
  cancelled: string[] = [];
  closed = false;
  readonly acked: number[] = [];
  readonly nacked: Array<{ tag: number; requeue: boolean | undefined }> = [];
  readonly published: Published[] = [];

  prefetch(count: number): Promise<object> {
    this.prefetchCount = count;
    return Promise.resolve({});
  }

  consume(_queue: string, onMessage: (message: ConsumeMessage | null) => void): Promise<{ consumerTag: string }> {
    this.consumer = onMessage;
    return Promise.resolve({ consumerTag: 'ctag-1' });
  }

  cancel(tag: string): Promise<{ consumerTag: string }> {
    this.cancelled.push(tag);
    return Promise.resolve({ consumerTag: tag });
  }

  close(): Promise<void> {
    this.closed = true;
    this.emit('close');
    return Promise.resolve();
  }

  ack(message: ConsumeMessage): void {
    if (this.closed) throw new Error('Channel closed');
    this.acked.push(message.fields.deliveryTag);
  }

  nack(message: ConsumeMessage, _allUpTo?: boolean, requeue?: boolean): void {
    if (this.closed) throw new Error('Channel closed');
    this.nacked.push({ tag: message.fields.deliveryTag, requeue });
  }

  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    callback: (error: unknown) => void,
  ): boolean {
    this.published.push({
      exchange,
      routingKey,
      content,
      options,
      confirm: (error) => callback(error ?? null),
    });
    return true;
  }
}

let nextTag = 0;
function delivery(body: unknown, headers: Record<string, unknown> = {}, routingKey = 'email'): ConsumeMessage {
  return {
    content: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    fields: { deliveryTag: ++nextTag, redelivered: false, exchange: 'switchboard.send', routingKey, consumerTag: 'c' },
    properties: { headers, contentType: 'application/json' } as unknown as ConsumeMessage['properties'],
  };
}

const email = (id: string) => ({ channel: 'email', to: { id, email: `${id}@example.com` }, content: { text: 'hi' } });

/** A consumer of the email queue over a fake channel, with the store's answers under test control. */
async function setUp(store: { answer?: (item: AcceptItem) => AcceptResult | Error | 'throw' } = {}) {
  const clock = new FakeClock();
  const amqp = new FakeChannel();
  const accepted: Array<{ tenant: string; ids: string[] }> = [];
  const backlog = new ChannelBacklog({
    limit: 10,
    onListenerError: (error) => {
      throw error;
    },
  });
  let n = 0;
  const intake = new SendIntake({
    messages: {
      acceptMany(items) {
        accepted.push({ tenant: items[0]?.tenant ?? '', ids: items.map((item) => item.request.to.id) });
        return items.map((item) => {
          const answer = store.answer?.(item) ?? { id: `m-${++n}`, created: true };
          if (answer === 'throw') throw new TypeError('a bug in the store');
          return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
        });
      },
    },
    templates: { missing: () => Promise.resolve(new Set<string>()) },
    deliver: () => {},
    backlog,
  });
  const broken: Error[] = [];
  const consumer = new QueueConsumer({
    channel: 'email',
    queue: 'switchboard.send.email',
    deadLetterExchange: 'switchboard.dlx',
    intake,
    prefetch: 8,
    batchSize: 4,
    batchDelayMs: 5,
    retryAfterMs: 1_000,
    drainTimeoutMs: 10_000,
    tenant: 'default',
    clock,
    logger: pino({ level: 'silent' }),
    onBroken: (error) => broken.push(error),
  });
  await consumer.start({ createConfirmChannel: () => Promise.resolve(amqp) } as unknown as ChannelModel);
  const deliver = (message: ConsumeMessage) => {
    if (amqp.consumer === undefined) throw new Error('not consuming');
    amqp.consumer(message);
    return message;
  };
  return { clock, amqp, accepted, backlog, consumer, broken, deliver };
}

describe('QueueConsumer', () => {
  it('accepts deliveries in groups (by size, or after the delay) and acks them once accepted', async () => {
    const { clock, amqp, accepted, consumer, deliver } = await setUp();
    expect(amqp.prefetchCount).toBe(8);
    const first = [1, 2, 3].map((i) => deliver(delivery(email(`a${i}`))));
    await tick();
    expect(accepted).toEqual([]);
    clock.advance(5);
    await tick();
    expect(accepted).toEqual([{ tenant: 'default', ids: ['a1', 'a2', 'a3'] }]);
    expect(amqp.acked).toEqual(first.map((message) => message.fields.deliveryTag));

    [1, 2, 3, 4].map((i) => deliver(delivery(email(`b${i}`))));
    await tick();
    expect(accepted[1]?.ids).toEqual(['b1', 'b2', 'b3', 'b4']);
    expect(consumer.stats()).toEqual({ accepted: 7, invalid: 0, requeued: 0, held: 0, inFlight: 0, paused: false });
  });

  it('accepts each tenant on its own and dead-letters a tenant header it cannot use', async () => {
    const { clock, amqp, accepted, deliver } = await setUp();
    deliver(delivery(email('t1'), { 'x-switchboard-tenant': 'acme' }));
    deliver(delivery(email('t2')));
    const bad = deliver(delivery(email('t3'), { 'x-switchboard-tenant': 42 }));
    clock.advance(5);
    await tick();
    expect(accepted).toEqual([
      { tenant: 'acme', ids: ['t1'] },
      { tenant: 'default', ids: ['t2'] },
    ]);
    expect(amqp.published).toHaveLength(1);
    expect(amqp.published[0]?.options.headers).toMatchObject({
      'x-switchboard-reason': expect.stringContaining('x-switchboard-tenant') as unknown,
    });
    expect(amqp.acked).not.toContain(bad.fields.deliveryTag);
  });

  it('acks a dead letter only once the broker confirmed it, with the reason and the original routing key', async () => {
    const { clock, amqp, consumer, deliver } = await setUp();
    const bad = deliver(delivery('nope', { 'x-trace': 't-1' }, 'email'));
    const wrong = deliver(delivery({ ...email('w1'), channel: 'sms', to: { id: 'w1', phone: '+447700900123' } }));
    clock.advance(5);
    await tick();
    expect(amqp.published.map((p) => [p.exchange, p.routingKey])).toEqual([
      ['switchboard.dlx', 'email'],
      ['switchboard.dlx', 'email'],
    ]);
    expect(amqp.published[0]?.options).toMatchObject({
      persistent: true,
      mandatory: true,
      contentType: 'application/json',
      headers: {
        'x-trace': 't-1',
        'x-switchboard-queue': 'switchboard.send.email',
        'x-switchboard-reason': expect.stringMatching(/^not JSON/) as unknown,
      },
    });
    expect(amqp.published[1]?.options.headers).toMatchObject({
      'x-switchboard-reason': expect.stringContaining('a sms send arrived on switchboard.send.email') as unknown,
    });
    expect(amqp.acked).toEqual([]);
    amqp.published[0]?.confirm();
    await tick();
    expect(amqp.acked).toEqual([bad.fields.deliveryTag]);
    // A refused dead letter sends its delivery back to the queue, after the pause.
    amqp.published[1]?.confirm(new Error('nacked by the broker'));
    await tick();
    expect(amqp.nacked).toEqual([]);
    clock.advance(1_000);
    expect(amqp.nacked).toEqual([{ tag: wrong.fields.deliveryTag, requeue: true }]);
    expect(consumer.stats()).toMatchObject({ invalid: 1, requeued: 1, inFlight: 0 });
  });

  it('treats a dead letter the broker returned as unroutable as not dead-lettered', async () => {
    const { clock, amqp, deliver } = await setUp();
    const bad = deliver(delivery('nope'));
    clock.advance(5);
    await tick();
    const published = amqp.published[0];
    const headers: unknown = published?.options.headers;
    amqp.emit('return', { content: published?.content, fields: {}, properties: { headers } });
    published?.confirm();
    await tick();
    expect(amqp.acked).toEqual([]);
    clock.advance(1_000);
    expect(amqp.nacked).toEqual([{ tag: bad.fields.deliveryTag, requeue: true }]);
  });

  it('hands back what the store could not take after a pause, holding the window meanwhile', async () => {
    const down = new StoreUnavailableError('store unavailable');
    const { clock, amqp, consumer, deliver } = await setUp({
      answer: (item) => (item.request.to.id === 'u2' ? down : { id: 'm', created: true }),
    });
    const [one, two] = [deliver(delivery(email('u1'))), deliver(delivery(email('u2')))];
    clock.advance(5);
    await tick();
    expect(amqp.acked).toEqual([one.fields.deliveryTag]);
    expect(consumer.stats()).toMatchObject({ inFlight: 1, requeued: 1 });
    clock.advance(999);
    expect(amqp.nacked).toEqual([]);
    clock.advance(1);
    expect(amqp.nacked).toEqual([{ tag: two.fields.deliveryTag, requeue: true }]);
    expect(consumer.stats().inFlight).toBe(0);
  });

  it('holds deliveries unacked while the channel is pushed back and accepts them when it opens', async () => {
    const { clock, amqp, accepted, backlog, consumer, deliver } = await setUp();
    backlog.added('email', 10);
    [1, 2, 3, 4, 5].map((i) => deliver(delivery(email(`p${i}`))));
    clock.advance(5);
    await tick();
    expect(accepted).toEqual([]);
    expect(consumer.stats()).toMatchObject({ held: 5, paused: true, inFlight: 5 });
    backlog.finished('email', 10);
    await tick();
    expect(accepted.map((group) => group.ids)).toEqual([['p1', 'p2', 'p3', 'p4'], ['p5']]);
    expect(amqp.acked).toHaveLength(5);
    expect(consumer.stats()).toMatchObject({ held: 0, paused: false, inFlight: 0, accepted: 5 });
  });

  it('stops: cancels, hands back held and waiting deliveries, closes the channel; idempotent', async () => {
    const down = new StoreUnavailableError('store unavailable');
    const { clock, amqp, backlog, consumer, broken, deliver } = await setUp({ answer: () => down });
    const waiting = deliver(delivery(email('w1')));
    clock.advance(5);
    await tick();
    backlog.added('email', 10);
    const held = deliver(delivery(email('h1')));
    clock.advance(5);
    await tick();
    expect(consumer.stats()).toMatchObject({ held: 1, inFlight: 2 });

    await Promise.all([consumer.stop(), consumer.stop()]);
    expect(amqp.cancelled).toEqual(['ctag-1']);
    expect(amqp.nacked).toEqual([
      { tag: held.fields.deliveryTag, requeue: true },
      { tag: waiting.fields.deliveryTag, requeue: true },
    ]);
    expect(amqp.closed).toBe(true);
    expect(consumer.stats().inFlight).toBe(0);
    // Its own close is not a break.
    expect(broken).toEqual([]);
    clock.advance(1_000);
    expect(amqp.nacked).toHaveLength(2);
  });

  it('reports a broken channel, a cancelled consumer and a failing intake', async () => {
    const { clock, amqp, broken, deliver } = await setUp({ answer: () => 'throw' });
    amqp.emit('error', Object.assign(new Error('Channel closed by server: 406'), { code: 406 }));
    amqp.consumer?.(null);
    deliver(delivery(email('x1')));
    clock.advance(5);
    await tick();
    expect(broken.map((error) => error.name)).toEqual(['AmqpError', 'AmqpError', 'IntakeFailureError']);
    expect(broken[0]).toMatchObject({ code: 'PRECONDITION_FAILED', replyCode: 406, retriable: false });
    expect(broken[1]).toMatchObject({ code: 'CONSUMER_CANCELLED' });
    expect(broken[2]).toBeInstanceOf(IntakeFailureError);
    // Unacked: the restart's channel close hands it back to the broker.
    expect(amqp.acked).toEqual([]);
  });
});
