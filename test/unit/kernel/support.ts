// Builds a fresh actor system on a fake clock for each kernel test, and waits for mailboxes to settle
// by yielding to the event loop (nact handles each message in its own setImmediate turn).
import { Writable } from 'node:stream';
import { ActorSystem } from '../../../runtime/kernel/ActorSystem.ts';
import { createLogger } from '../../../runtime/logging/createLogger.ts';
import { FakeClock } from '../../../runtime/time/FakeClock.ts';
import type { SupervisionStrategy } from '../../../supervisors/SupervisionStrategy.ts';

export function testSystem(options: { random?: () => number; defaultSupervision?: SupervisionStrategy } = {}) {
  const clock = new FakeClock(1_000_000);
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const system = new ActorSystem({
    clock,
    logger: createLogger({ level: 'debug', destination }),
    random: options.random ?? (() => 1),
    ...(options.defaultSupervision ? { defaultSupervision: options.defaultSupervision } : {}),
  });
  return { system, clock, logs };
}

/** Yields to the event loop until `condition` holds; fails after `turns` turns (no wall-clock waiting). */
export async function until(condition: () => boolean, what = 'condition', turns = 10_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}
