import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BoundedQueue,
  BoundedQueueOptionsError,
  UnknownPriorityError,
  type BoundedQueueOptions,
} from '../../runtime/flow/BoundedQueue.ts';
import { PressureSignal, WatermarkError, type PressureState } from '../../runtime/flow/PressureSignal.ts';

type Priority = 'transactional' | 'marketing';
const PRIORITIES: readonly Priority[] = ['transactional', 'marketing'];

function queue(overrides: Partial<BoundedQueueOptions<Priority>> = {}): BoundedQueue<string, Priority> {
  return new BoundedQueue<string, Priority>({
    priorities: PRIORITIES,
    capacity: 10,
    highWatermark: 8,
    lowWatermark: 3,
    ...overrides,
  });
}

function fill(q: BoundedQueue<string, Priority>, count: number, priority: Priority = 'marketing'): void {
  for (let i = 0; i < count; i++) expect(q.offer(`${priority}-${i}`, priority)).toBe(true);
}

function shiftN(q: BoundedQueue<string, Priority>, count: number): void {
  for (let i = 0; i < count; i++) expect(q.shift()).toBeDefined();
}

/** Lets every queued microtask run (promise reactions), without guessing at wall-clock time. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** mulberry32: a small seeded PRNG, so the property test replays the same sequences every run. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('BoundedQueue options', () => {
  it.each([
    ['priorities', { priorities: [] }],
    ['priorities', { priorities: ['transactional', 'transactional'] }],
    ['priorities', { priorities: [''] as unknown as Priority[] }],
    ['capacity', { capacity: 0 }],
    ['capacity', { capacity: 2.5 }],
    ['capacity', { capacity: Number.POSITIVE_INFINITY }],
    ['highWatermark', { highWatermark: 11 }],
    ['highWatermark', { highWatermark: 0, lowWatermark: 0 }],
    ['lowWatermark', { lowWatermark: 8 }],
    ['lowWatermark', { lowWatermark: 9 }],
    ['lowWatermark', { lowWatermark: -1 }],
    ['lowWatermark', { lowWatermark: Number.NaN }],
  ] as const)('rejects a bad %s: %j', (option, overrides) => {
    const attempt = () => queue(overrides);
    expect(attempt).toThrow(BoundedQueueOptionsError);
    expect(attempt).toThrow(expect.objectContaining({ name: 'BoundedQueueOptionsError', option }));
  });

  it('accepts the edges: 0 <= low < high <= capacity', () => {
    const q = queue({ capacity: 4, highWatermark: 4, lowWatermark: 0 });
    expect(q.stats()).toMatchObject({ capacity: 4, highWatermark: 4, lowWatermark: 0, pressure: 'open' });
    expect(q.priorities).toEqual(PRIORITIES);
  });

  it('refuses an unknown priority that got past the type checker', () => {
    const q = queue();
    expect(() => q.offer('x', 'bulk' as Priority)).toThrow(UnknownPriorityError);
    expect(() => q.sizeOf('bulk' as Priority)).toThrow(UnknownPriorityError);
    expect(q.stats()).toMatchObject({ size: 0, offered: 0 });
  });

  it('PressureSignal validates its own watermarks', () => {
    expect(() => new PressureSignal({ highWatermark: 3, lowWatermark: 3 })).toThrow(WatermarkError);
    expect(() => new PressureSignal({ highWatermark: 3, lowWatermark: -1 })).toThrow(WatermarkError);
    expect(() => new PressureSignal({ highWatermark: 1.5, lowWatermark: 0 })).toThrow(WatermarkError);
  });
});

describe('BoundedQueue ordering and bounds', () => {
  it('takes from the highest non-empty class first', () => {
    const q = queue();
    q.offer('m1', 'marketing');
    q.offer('t1', 'transactional');
    q.offer('m2', 'marketing');
    q.offer('t2', 'transactional');
    expect(q.shift()).toBe('t1');
    q.offer('t3', 'transactional');
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual(['t2', 't3', 'm1', 'm2']);
    expect(q.shift()).toBeUndefined();
    expect(q.isEmpty).toBe(true);
  });

  it('is FIFO within a class, across ring-buffer wrap-around and growth', () => {
    const q = new BoundedQueue<number, Priority>({
      priorities: PRIORITIES,
      capacity: 100,
      highWatermark: 90,
      lowWatermark: 10,
    });
    const out: number[] = [];
    let next = 0;
    // Interleave so the head moves before the buffer grows past its initial 16 slots.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 9; i++) q.offer(next++, 'marketing');
      for (let i = 0; i < 4; i++) out.push(q.shift() ?? -1);
    }
    while (!q.isEmpty) out.push(q.shift() ?? -1);
    expect(out).toEqual(Array.from({ length: next }, (_, i) => i));
  });

  it('refuses offers at capacity and never grows past it', () => {
    const q = queue({ capacity: 3, highWatermark: 3, lowWatermark: 1 });
    fill(q, 2, 'marketing');
    expect(q.available()).toBe(1);
    expect(q.offer('t', 'transactional')).toBe(true);
    expect(q.available()).toBe(0);
    expect(q.offer('refused', 'transactional')).toBe(false);
    expect(q.offer('refused', 'marketing')).toBe(false);
    expect(q.size).toBe(3);
    expect(q.sizeOf('transactional')).toBe(1);
    expect(q.sizeOf('marketing')).toBe(2);
    expect(q.shift()).toBe('t');
    expect(q.offer('again', 'marketing')).toBe(true);
    expect(q.drain()).toEqual(['marketing-0', 'marketing-1', 'again']);
  });

  it('drains everything in priority order and counts it as taken', () => {
    const q = queue();
    q.offer('m1', 'marketing');
    q.offer('t1', 'transactional');
    q.offer('m2', 'marketing');
    q.offer('t2', 'transactional');
    expect(q.drain()).toEqual(['t1', 't2', 'm1', 'm2']);
    expect(q.isEmpty).toBe(true);
    expect(q.drain()).toEqual([]);
    expect(q.stats()).toMatchObject({ size: 0, taken: 4, byPriority: { transactional: 0, marketing: 0 } });
    q.offer('after', 'marketing');
    expect(q.shift()).toBe('after');
  });
});

describe('BoundedQueue pressure', () => {
  it('turns pressured at the high watermark and open only at the low watermark', () => {
    const q = queue(); // capacity 10, high 8, low 3
    const seen: PressureState[] = [];
    q.onPressure((state) => seen.push(state));

    fill(q, 7);
    expect(q.pressure).toBe('open');
    fill(q, 1);
    expect(q.pressure).toBe('pressured');

    shiftN(q, 4); // 4: between the watermarks
    expect(q.pressure).toBe('pressured');
    fill(q, 5); // 9: back above high while already pressured: no new change
    shiftN(q, 5); // 4
    expect(q.pressure).toBe('pressured');
    expect(seen).toEqual(['pressured']);

    shiftN(q, 1); // 3: the low watermark
    expect(q.pressure).toBe('open');
    fill(q, 4); // 7: between the watermarks while open stays open
    expect(q.pressure).toBe('open');
    expect(seen).toEqual(['pressured', 'open']);
  });

  it('opens on drain from pressure', () => {
    const q = queue();
    const seen: PressureState[] = [];
    q.onPressure((state) => seen.push(state));
    fill(q, 9);
    q.drain();
    expect(seen).toEqual(['pressured', 'open']);
  });

  it('calls each subscription exactly once per change, and not after unsubscribe', () => {
    const q = queue();
    const a: PressureState[] = [];
    const b: PressureState[] = [];
    const twice: PressureState[] = [];
    const recordTwice = (state: PressureState) => twice.push(state);
    q.onPressure((state) => a.push(state));
    const unsubscribeB = q.onPressure((state) => b.push(state));
    q.onPressure(recordTwice);
    const unsubscribeSecond = q.onPressure(recordTwice);

    fill(q, 8);
    fill(q, 2); // more items while pressured: nothing
    shiftN(q, 7); // 3: open
    expect(a).toEqual(['pressured', 'open']);
    expect(b).toEqual(['pressured', 'open']);
    expect(twice).toEqual(['pressured', 'pressured', 'open', 'open']);

    unsubscribeB();
    unsubscribeB();
    unsubscribeSecond();
    fill(q, 5);
    expect(a).toEqual(['pressured', 'open', 'pressured']);
    expect(b).toEqual(['pressured', 'open']);
    expect(twice).toEqual(['pressured', 'pressured', 'open', 'open', 'pressured']);
  });

  it('skips a listener unsubscribed by an earlier one during the same change', () => {
    const q = queue();
    const late: PressureState[] = [];
    let unsubscribeLate = () => {};
    q.onPressure(() => unsubscribeLate());
    const joined: PressureState[] = [];
    q.onPressure(() => {
      // Subscribed mid-change: hears only later changes.
      if (joined.length === 0) q.onPressure((state) => joined.push(state));
    });
    unsubscribeLate = q.onPressure((state) => late.push(state));
    fill(q, 8);
    shiftN(q, 5);
    expect(late).toEqual([]);
    expect(joined).toEqual(['open']);
  });

  it('reports a throwing listener and still calls the others; the queue carries on', () => {
    const reported: Array<{ error: unknown; state: PressureState }> = [];
    const q = queue({ onListenerError: (error, state) => reported.push({ error, state }) });
    const boom = new Error('listener failed');
    const after: PressureState[] = [];
    const before: PressureState[] = [];
    q.onPressure((state) => before.push(state));
    q.onPressure(() => {
      throw boom;
    });
    q.onPressure((state) => after.push(state));

    fill(q, 8); // the 8th offer triggers the throwing listener and still succeeds
    expect(q.size).toBe(8);
    expect(q.pressure).toBe('pressured');
    shiftN(q, 5);
    expect(before).toEqual(['pressured', 'open']);
    expect(after).toEqual(['pressured', 'open']);
    expect(reported).toEqual([
      { error: boom, state: 'pressured' },
      { error: boom, state: 'open' },
    ]);
    expect(q.stats()).toMatchObject({ size: 3, offered: 8, taken: 5, rejected: 0 });
  });

  it('without onListenerError, rethrows listener errors from a microtask instead of dropping them', () => {
    const later: Array<() => void> = [];
    vi.stubGlobal('queueMicrotask', (callback: () => void) => later.push(callback));
    const q = queue();
    const boom = new Error('nobody listening for this');
    const other: PressureState[] = [];
    q.onPressure(() => {
      throw boom;
    });
    q.onPressure((state) => other.push(state));
    fill(q, 8); // the offer itself does not throw
    expect(other).toEqual(['pressured']);
    expect(later).toHaveLength(1);
    expect(() => later[0]?.()).toThrow(boom);
  });

  it('delivers changes made by a listener after the current change, in order, to everyone', () => {
    const q = queue();
    const first: PressureState[] = [];
    const last: PressureState[] = [];
    q.onPressure((state) => {
      first.push(state);
      if (state === 'pressured') while (q.size > q.stats().lowWatermark) q.shift();
    });
    q.onPressure((state) => last.push(state));
    fill(q, 8);
    expect(q.size).toBe(3);
    expect(q.pressure).toBe('open');
    expect(first).toEqual(['pressured', 'open']);
    expect(last).toEqual(['pressured', 'open']);
  });
});

describe('BoundedQueue whenOpen', () => {
  it('resolves at once when open', async () => {
    await expect(queue().whenOpen()).resolves.toBeUndefined();
  });

  it('waits while pressured and resolves when pressure clears', async () => {
    const q = queue();
    fill(q, 8);
    let resolved = false;
    const open = q.whenOpen().then(() => {
      resolved = true;
    });
    shiftN(q, 4); // 4: still pressured
    await settle();
    expect(resolved).toBe(false);
    shiftN(q, 1); // 3: open
    await open;
    expect(resolved).toBe(true);
  });

  it('rejects with the abort reason and forgets the waiter', async () => {
    const signal = new PressureSignal({ highWatermark: 2, lowWatermark: 0 });
    signal.update(2);
    const controller = new AbortController();
    const reason = new Error('source stopping');
    const waiting = signal.whenOpen(controller.signal);
    const other = signal.whenOpen();
    expect(signal.waiting).toBe(2);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(signal.waiting).toBe(1);
    signal.update(0);
    await expect(other).resolves.toBeUndefined();
    expect(signal.waiting).toBe(0);
  });

  it('rejects at once for an already-aborted signal, and ignores an abort after opening', async () => {
    const q = queue();
    await expect(q.whenOpen(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    fill(q, 8);
    const controller = new AbortController();
    const waiting = q.whenOpen(controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    q.drain();
    // Opening released the waiter's abort listener: a long-lived signal does not collect them.
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort(new Error('too late'));
    await expect(waiting).resolves.toBeUndefined();
  });

  it('uses the default AbortError reason when none is given', async () => {
    const q = queue();
    fill(q, 8);
    const controller = new AbortController();
    const waiting = q.whenOpen(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('BoundedQueue stats', () => {
  it('counts offers, refusals and takes', () => {
    const q = queue({ capacity: 4, highWatermark: 3, lowWatermark: 1 });
    fill(q, 1, 'transactional');
    fill(q, 3, 'marketing');
    expect(q.offer('x', 'marketing')).toBe(false);
    expect(q.offer('y', 'transactional')).toBe(false);
    q.shift();
    expect(q.stats()).toEqual({
      size: 3,
      capacity: 4,
      highWatermark: 3,
      lowWatermark: 1,
      pressure: 'pressured',
      byPriority: { transactional: 0, marketing: 3 },
      offered: 6,
      rejected: 2,
      taken: 1,
    });
    q.drain();
    expect(q.stats()).toMatchObject({ size: 0, pressure: 'open', offered: 6, rejected: 2, taken: 4 });
  });
});

describe('BoundedQueue against a reference model', () => {
  type Bulk = 'p0' | 'p1' | 'p2';
  const CLASSES: readonly Bulk[] = ['p0', 'p1', 'p2'];

  it.each([1, 2, 3, 42, 1_234, 99_999, 20_240_611, 7])('matches the model for seed %i', (seed) => {
    const random = seededRandom(seed);
    const int = (n: number) => Math.floor(random() * n);
    const capacity = 1 + int(40);
    const highWatermark = 1 + int(capacity);
    const lowWatermark = int(highWatermark);
    const q = new BoundedQueue<number, Bulk>({ priorities: CLASSES, capacity, highWatermark, lowWatermark });
    const events: PressureState[] = [];
    q.onPressure((state) => events.push(state));

    // The model: a plain array per class and the hysteresis rule written out directly.
    const model: Record<Bulk, number[]> = { p0: [], p1: [], p2: [] };
    let pressure: PressureState = 'open';
    const modelEvents: PressureState[] = [];
    const counters = { offered: 0, rejected: 0, taken: 0 };
    const modelSize = () => model.p0.length + model.p1.length + model.p2.length;
    const repressurize = () => {
      const size = modelSize();
      const next =
        pressure === 'open'
          ? size >= highWatermark
            ? 'pressured'
            : 'open'
          : size <= lowWatermark
            ? 'open'
            : 'pressured';
      if (next !== pressure) modelEvents.push(next);
      pressure = next;
    };

    let nextItem = 0;
    // Bias towards offering or shifting in stretches so the queue swings between empty and full.
    let offerBias = 0.5;
    for (let step = 0; step < 3_000; step++) {
      if (step % 100 === 0) offerBias = 0.2 + random() * 0.6;
      const roll = random();
      if (roll < 0.005) {
        const expected = CLASSES.flatMap((c) => model[c].splice(0));
        counters.taken += expected.length;
        repressurize();
        expect(q.drain()).toEqual(expected);
      } else if (roll < offerBias) {
        const priority = CLASSES[int(CLASSES.length)] ?? 'p0';
        const item = nextItem++;
        counters.offered++;
        const fits = modelSize() < capacity;
        if (fits) model[priority].push(item);
        else counters.rejected++;
        repressurize();
        expect(q.offer(item, priority)).toBe(fits);
      } else {
        const from = CLASSES.find((c) => model[c].length > 0);
        const expected = from === undefined ? undefined : model[from].shift();
        if (expected !== undefined) counters.taken++;
        repressurize();
        expect(q.shift()).toBe(expected);
      }

      expect(q.size).toBe(modelSize());
      expect(q.isEmpty).toBe(modelSize() === 0);
      expect(q.available()).toBe(capacity - modelSize());
      expect(q.pressure).toBe(pressure);
      expect(q.stats()).toEqual({
        size: modelSize(),
        capacity,
        highWatermark,
        lowWatermark,
        pressure,
        byPriority: { p0: model.p0.length, p1: model.p1.length, p2: model.p2.length },
        ...counters,
      });
    }
    expect(events).toEqual(modelEvents);
    expect(events.length).toBeGreaterThan(0);
  });
});
