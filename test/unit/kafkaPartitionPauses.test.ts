// Partitions paused for a pushed-back channel resume when that channel (and only that one) opens.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { PartitionPauses } from '../../actors/bridge/kafka/PartitionPauses.ts';
import { SendIntake } from '../../actors/bridge/SendIntake.ts';
import { ChannelBacklog } from '../../actors/channel/ChannelBacklog.ts';

const logger = pino({ level: 'silent' });

function harness() {
  const backlog = new ChannelBacklog({
    limit: 10,
    onListenerError: (error) => {
      throw error;
    },
  });
  const intake = new SendIntake({
    messages: { acceptMany: () => [] },
    templates: { missing: () => Promise.resolve(new Set()) },
    deliver: () => {},
    backlog,
  });
  const calls: string[] = [];
  const errors: Error[] = [];
  const consumer = {
    pause: (tps: Array<{ topic: string; partitions: number[] }>) => calls.push(`pause ${JSON.stringify(tps)}`),
    resume: (tps: Array<{ topic: string; partitions: number[] }>) => calls.push(`resume ${JSON.stringify(tps)}`),
  };
  const pauses = new PartitionPauses({ topic: 't', consumer, intake, logger, onError: (error) => errors.push(error) });
  return { backlog, consumer, calls, errors, pauses };
}

describe('PartitionPauses', () => {
  it('resumes the partitions of a channel when it opens, and leaves the others paused', () => {
    const h = harness();
    h.backlog.added('sms', 10);
    h.backlog.added('push', 10);
    expect(h.pauses.pause(2, 'sms')).toBe(true);
    expect(h.pauses.pause(0, 'sms')).toBe(true);
    expect(h.pauses.pause(1, 'push')).toBe(true);
    expect(h.pauses.paused()).toEqual([0, 1, 2]);

    h.backlog.finished('sms', 1); // 9: above the low watermark (8), still pushed back
    expect(h.pauses.paused()).toEqual([0, 1, 2]);
    h.backlog.finished('sms', 9);
    expect(h.pauses.paused()).toEqual([1]);
    expect(h.calls.at(-1)).toBe('resume [{"topic":"t","partitions":[2,0]}]');
  });

  it('does not pause for a channel that opened meanwhile', () => {
    const h = harness();
    expect(h.pauses.pause(0, 'email')).toBe(false);
    expect(h.calls).toEqual([]);
  });

  it('stops listening once stopped', () => {
    const h = harness();
    h.backlog.added('sms', 10);
    h.pauses.pause(0, 'sms');
    h.pauses.stop();
    h.backlog.finished('sms', 10);
    expect(h.calls).toEqual(['pause [{"topic":"t","partitions":[0]}]']);
  });

  it('reports a resume that failed instead of leaving the partition paused silently', () => {
    const h = harness();
    h.consumer.resume = () => {
      throw new Error('not running');
    };
    h.backlog.added('sms', 10);
    h.pauses.pause(0, 'sms');
    h.backlog.finished('sms', 10);
    expect(h.errors.map((e) => e.message)).toEqual(['not running']);
  });
});
