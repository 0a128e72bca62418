// The consumer's lag is read at most once per interval, over the partitions assigned to this member.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ConsumerLag } from '../../actors/bridge/kafka/ConsumerLag.ts';
import { FakeClock } from '../../runtime/time/FakeClock.ts';
import { waitFor } from '../support/waitFor.ts';

const logger = pino({ level: 'silent' });

describe('ConsumerLag', () => {
  it('sums high watermark minus committed offset over the assigned partitions, read at most once per interval', async () => {
    const clock = new FakeClock(1_000);
    let reads = 0;
    let high = 100;
    const admin = {
      fetchTopicOffsets: () => {
        reads++;
        return Promise.resolve([
          { partition: 0, offset: String(high), high: String(high), low: '0' },
          { partition: 1, offset: '50', high: '50', low: '20' },
          { partition: 2, offset: '70', high: '70', low: '0' },
        ]);
      },
      fetchOffsets: () =>
        Promise.resolve([
          {
            topic: 't',
            partitions: [
              { partition: 0, offset: '90', metadata: null },
              { partition: 1, offset: '-1', metadata: null },
              { partition: 2, offset: '0', metadata: null },
            ],
          },
        ]),
    };
    const lag = new ConsumerLag({ admin, groupId: 'g', topic: 't', refreshMs: 5_000, clock, logger });
    lag.assign([1, 0]);
    expect(lag.current()).toBeNull();
    // Partition 0: 100 - 90; partition 1, nothing committed: 50 - 20 (its earliest); partition 2 is not ours.
    await waitFor(() => lag.current() === 40, { what: 'lag 40' });
    high = 200;
    expect(lag.current()).toBe(40);
    expect(reads).toBe(1);
    clock.advance(5_000);
    await waitFor(() => lag.current() === 140, { what: 'lag 140' });
    expect(reads).toBe(2);
    await lag.stop();
  });
});
