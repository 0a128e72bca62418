// The RabbitMQ topology of ARCHITECTURE §6, declared idempotently: the send exchange and one durable
// queue per channel (dead-lettering to the DLX), the DLX with its dead queue, and the events exchange.
import type { Channel as AmqpChannel } from 'amqplib';
import { CHANNELS, type Channel } from '../../../runtime/messages/sendRequest.ts';

/** The names of every exchange and queue of the topology. */
export type RabbitTopologyNames = {
  /** Topic exchange publishers send to, routing key = channel. */
  readonly sendExchange: string;
  /** One durable queue per channel, bound to `sendExchange` with the channel as routing key. */
  readonly queues: Readonly<Record<Channel, string>>;
  /** Fanout exchange rejected deliveries go to. */
  readonly deadLetterExchange: string;
  /** The queue behind `deadLetterExchange`. */
  readonly deadQueue: string;
  /** Topic exchange delivery events are published to (`delivery.<status>.<channel>`). */
  readonly eventsExchange: string;
};

/**
 * The topology's names, each behind `prefix` (none in production; a unique one per test run, so
 * runs never share a queue).
 * @example topologyNames().queues.sms // 'switchboard.send.sms'
 */
export function topologyNames(prefix = ''): RabbitTopologyNames {
  const queues = Object.fromEntries(CHANNELS.map((channel) => [channel, `${prefix}switchboard.send.${channel}`]));
  return Object.freeze({
    sendExchange: `${prefix}switchboard.send`,
    queues: Object.freeze(queues as Record<Channel, string>),
    deadLetterExchange: `${prefix}switchboard.dlx`,
    deadQueue: `${prefix}switchboard.send.dead`,
    eventsExchange: `${prefix}switchboard.events`,
  });
}

/**
 * Declares the topology; declaring it again with the same names changes nothing. A name already
 * declared with other properties makes the broker close the channel (PRECONDITION_FAILED) and this
 * reject.
 */
export async function declareTopology(
  channel: Pick<AmqpChannel, 'assertExchange' | 'assertQueue' | 'bindQueue'>,
  names: RabbitTopologyNames = topologyNames(),
): Promise<void> {
  // The DLX first: the channel queues name it as their dead-letter exchange.
  await channel.assertExchange(names.deadLetterExchange, 'fanout', { durable: true });
  await channel.assertQueue(names.deadQueue, { durable: true });
  await channel.bindQueue(names.deadQueue, names.deadLetterExchange, '');
  await channel.assertExchange(names.sendExchange, 'topic', { durable: true });
  for (const channelName of CHANNELS) {
    const queue = names.queues[channelName];
    await channel.assertQueue(queue, { durable: true, deadLetterExchange: names.deadLetterExchange });
    await channel.bindQueue(queue, names.sendExchange, channelName);
  }
  await channel.assertExchange(names.eventsExchange, 'topic', { durable: true });
}
