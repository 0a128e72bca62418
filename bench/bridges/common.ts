// What bench:bridges' Kafka and RabbitMQ parts share: progress lines, the send fixture, measured
// windows (first record handed over to last one finished, with the CPU they took), the real intake
// behind the bridges with a counting `deliver`, and waits that an interrupt ends.
import { cpus } from 'node:os';
import { Writable } from 'node:stream';
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';
import { SendIntake } from '../../actors/bridge/SendIntake.ts';
import { ChannelBacklog } from '../../actors/channel/ChannelBacklog.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { MessageStore } from '../../runtime/messages/MessageStore.ts';
import { sendRequestSchema } from '../../runtime/messages/sendRequest.ts';
import type { GroupCommitStats } from '../../runtime/persistence/GroupCommit.ts';
import { TemplateStore } from '../../runtime/templates/TemplateStore.ts';

export const progress = (line: string) => process.stderr.write(`[bench:bridges] ${line}\n`);

export const silentLogger = createLogger({
  level: 'silent',
  destination: new Writable({ write: (_chunk, _encoding, callback) => callback() }),
});

export const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
export const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Aborted on SIGINT/SIGTERM: every wait then throws, so the clean-up in `finally` blocks still runs. */
export const interrupted = new AbortController();

/** A valid email send, as a publisher puts it on Kafka or RabbitMQ. */
export function emailSend(key: string, recipient: string): string {
  return JSON.stringify({
    idempotencyKey: key,
    channel: 'email',
    to: { id: recipient, email: `${recipient}@example.com` },
    content: { subject: 'hello', text: `message ${key}` },
  });
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `done` until it holds; `report` is called every 5 s. Throws on timeout or interrupt. */
export async function waitUntil(
  done: () => boolean | Promise<boolean>,
  options: { what: string; timeoutMs: number; intervalMs?: number; report?: () => string },
): Promise<void> {
  const started = performance.now();
  let reported = started;
  while (!(await done())) {
    if (interrupted.signal.aborted) throw new Error(`interrupted while waiting for ${options.what}`);
    const now = performance.now();
    if (now - started > options.timeoutMs)
      throw new Error(
        `timed out after ${options.timeoutMs} ms waiting for ${options.what}` +
          (options.report ? ` (${options.report()})` : ''),
      );
    if (options.report && now - reported >= 5_000) {
      reported = now;
      progress(`  … ${options.report()}`);
    }
    await sleep(options.intervalMs ?? 20);
  }
}

/** Busy CPU time of the whole machine, in ms summed over its cores. */
function machineBusyMs(): number {
  let busy = 0;
  for (const { times } of cpus()) busy += times.user + times.nice + times.sys + times.irq;
  return busy;
}

/** What one side did in one measured window. */
export type WindowFigures = {
  readonly perSecond: number;
  readonly seconds: number;
  /** Cores this process kept busy during the window (1 = one core all the time). */
  readonly processCores: number;
  /** Cores the whole machine kept busy: this process, the brokers, PostgreSQL and anything else. */
  readonly machineCores: number;
};

/**
 * A measured window over `expected` items: opened by the first item handed over (`first`), closed
 * by the last one finished (`last`).
 */
export class Window {
  readonly expected: number;
  count = 0;
  #firstAt: number | undefined;
  #lastAt: number | undefined;
  #cpuAtFirst: NodeJS.CpuUsage | undefined;
  #cpuUsed: NodeJS.CpuUsage | undefined;
  #machineAtFirst = 0;
  #machineUsed = 0;

  constructor(expected: number) {
    this.expected = expected;
  }

  get started(): boolean {
    return this.#firstAt !== undefined;
  }

  get complete(): boolean {
    return this.#lastAt !== undefined;
  }

  /** The first item is in hand (later calls change nothing). */
  first(): void {
    if (this.#firstAt !== undefined) return;
    this.#firstAt = performance.now();
    this.#cpuAtFirst = process.cpuUsage();
    this.#machineAtFirst = machineBusyMs();
  }

  /** `n` more items finished; the window closes when all are. */
  finished(n = 1): void {
    this.count += n;
    if (this.count >= this.expected && this.#lastAt === undefined) {
      this.#lastAt = performance.now();
      this.#cpuUsed = process.cpuUsage(this.#cpuAtFirst);
      this.#machineUsed = machineBusyMs() - this.#machineAtFirst;
    }
  }

  figures(): WindowFigures {
    if (this.#firstAt === undefined || this.#lastAt === undefined || this.#cpuUsed === undefined)
      throw new Error(`the window is not complete (${this.count} of ${this.expected})`);
    const ms = Math.max(this.#lastAt - this.#firstAt, 0.001);
    return {
      perSecond: round(this.expected / (ms / 1000)),
      seconds: round(ms / 1000, 3),
      processCores: round((this.#cpuUsed.user + this.#cpuUsed.system) / 1000 / ms, 2),
      machineCores: round(this.#machineUsed / ms, 2),
    };
  }
}

/** The real intake; its first parse opens the window (a record is in the bridge's hands). */
class TimedIntake extends SendIntake {
  readonly #window: Window;

  constructor(deps: ConstructorParameters<typeof SendIntake>[0], window: Window) {
    super(deps);
    this.#window = window;
  }

  override parse(raw: Buffer | string | null | undefined): ReturnType<SendIntake['parse']> {
    this.#window.first();
    return super.parse(raw);
  }
}

/** One measurement's intake: a fresh store and backlog on the bench database, counting what it routes. */
export type OurIntake = {
  readonly intake: SendIntake;
  readonly window: Window;
  readonly store: MessageStore;
  /** Waits until `expected` sends were durably accepted and routed. */
  accepted(what: string, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
};

export function ourIntake(pool: DatabasePool, expected: number): OurIntake {
  const window = new Window(expected);
  const store = new MessageStore(pool);
  const backlog = new ChannelBacklog({
    // Nothing is ever finished here: a limit above everything the run accepts never pushes back.
    limit: 100_000_000,
    onListenerError: (error) => progress(`backlog listener failed: ${String(error)}`),
  });
  const intake = new TimedIntake(
    { messages: store, templates: new TemplateStore(pool), backlog, deliver: () => window.finished() },
    window,
  );
  return {
    intake,
    window,
    store,
    accepted: (what, timeoutMs) =>
      waitUntil(() => window.complete, {
        what,
        timeoutMs,
        report: () => {
          const stats = store.acceptStats();
          return `${what}: ${window.count} of ${expected} accepted (${stats.batches} transactions, ${stats.queued} queued)`;
        },
      }),
    close: async () => {
      await store.close();
      await store.closeTransitions();
    },
  };
}

/** Transactions and their mean size, from the acceptance writer's figures. */
export function batching(stats: GroupCommitStats) {
  return {
    transactions: stats.batches,
    meanBatch: round(stats.items / Math.max(stats.batches, 1), 1),
    largestBatch: stats.largestBatch,
  };
}

/** Every measurement of ours starts on empty tables, so no round writes into a bigger table than another. */
export async function truncate(pool: DatabasePool): Promise<void> {
  await pool.query(sql.unsafe`TRUNCATE messages, message_events, outbox CASCADE`);
}

export async function countMessages(pool: DatabasePool): Promise<number> {
  return pool.oneFirst(sql.type(z.object({ count: z.number() }))`SELECT count(*)::int AS count FROM messages`);
}

/** Runs every step even when one fails; reports the failures (clean-up must not hide the result). */
export async function cleanUp(steps: ReadonlyArray<readonly [string, () => unknown]>): Promise<boolean> {
  let ok = true;
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (error) {
      ok = false;
      progress(`clean-up: ${what} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return ok;
}

/**
 * The store's ceiling beside a bridge: the same kind of sends, parsed beforehand, durably accepted
 * through the same intake in-process with no broker in between — chunks of 500, 10 in flight, so
 * the acceptance writer always has a full batch waiting. How close a bridge gets to this says
 * whether the broker side or PostgreSQL bounds it.
 */
export async function storeCeiling(
  pool: DatabasePool,
  records: number,
  keyPrefix: string,
): Promise<WindowFigures & ReturnType<typeof batching>> {
  await truncate(pool);
  const ours = ourIntake(pool, records);
  // Parsed outside the timed intake, whose first parse would open the window.
  const requests = Array.from({ length: records }, (_, i) =>
    sendRequestSchema.parse(JSON.parse(emailSend(`${keyPrefix}-${i}`, `user-${i % 1_000}`))),
  );
  const chunk = 500;
  let next = 0;
  const worker = async () => {
    while (next < records) {
      const from = next;
      next += chunk;
      const outcomes = await ours.intake.accept('default', requests.slice(from, from + chunk));
      const refused = outcomes.find((outcome) => outcome.kind !== 'accepted');
      if (refused !== undefined) throw new Error(`the store refused a send: ${JSON.stringify(refused)}`);
    }
  };
  try {
    ours.window.first();
    await Promise.all(Array.from({ length: 10 }, worker));
    await ours.accepted('the store ceiling', 600_000);
  } finally {
    await ours.close();
  }
  const stored = await countMessages(pool);
  if (stored !== records) throw new Error(`store ceiling: ${stored} stored, expected ${records}`);
  return { ...ours.window.figures(), ...batching(ours.store.acceptStats()) };
}

/** Cores the machine keeps busy over `ms` before anything starts (another job disturbs the figures). */
export async function machineLoad(ms: number): Promise<number> {
  const before = machineBusyMs();
  const started = performance.now();
  await sleep(ms);
  return round((machineBusyMs() - before) / (performance.now() - started), 2);
}
