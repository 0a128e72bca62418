// Smoke test for the local RabbitMQ broker: a persistent message with a header, published through a
// confirm channel, is confirmed, consumed and acknowledged intact.
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/waitFor.ts';

const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

describe('rabbitmq smoke', () => {
  let connection: ChannelModel | undefined;
  let channel: ConfirmChannel | undefined;
  // A server-side channel close arrives as an 'error' event; collect it so it fails the test instead
  // of surfacing as an uncaught exception.
  const channelErrors: Error[] = [];

  beforeAll(async () => {
    connection = await connect(amqpUrl);
    channel = await connection.createConfirmChannel();
    channel.on('error', (error: Error) => channelErrors.push(error));
  });

  afterAll(async () => {
    await channel?.close();
    await connection?.close();
  });

  it('confirms, delivers and acks a persistent message with a header', async () => {
    if (channel === undefined) throw new Error('channel was not opened');
    const ch = channel;
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    expect(queue).toMatch(/^amq\.gen-/);

    const body = Buffer.from('{"hello":"rabbitmq"}');
    await new Promise<void>((resolve, reject) => {
      ch.sendToQueue(queue, body, { persistent: true, headers: { 'x-smoke': 'header-value' } }, (error) =>
        error ? reject(new Error('broker nacked the smoke message', { cause: error })) : resolve(),
      );
    });

    const received: ConsumeMessage[] = [];
    const { consumerTag } = await ch.consume(queue, (message) => {
      if (message !== null) received.push(message);
    });
    const message = await waitFor(() => received[0], { what: `a message on ${queue}` });
    ch.ack(message);
    // Cancelling the only consumer also deletes the auto-delete queue.
    await ch.cancel(consumerTag);

    expect(message.content.toString()).toBe('{"hello":"rabbitmq"}');
    expect(message.properties.headers?.['x-smoke']).toBe('header-value');
    expect(message.properties.deliveryMode).toBe(2);
    expect(message.fields.redelivered).toBe(false);
    expect(received).toHaveLength(1);
    expect(channelErrors).toEqual([]);
  });
});
