// Time is injected: production code takes a Clock, tests hand in a fake one and advance it.

export type TimerHandle = { readonly id: number };

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock. Timers are unref'd: a pending retry never keeps the process alive on its own. */
export function systemClock(): Clock {
  const timers = new Map<number, NodeJS.Timeout>();
  let next = 0;
  return {
    now: () => Date.now(),
    setTimeout(callback, delayMs) {
      const id = ++next;
      const timer = setTimeout(() => {
        timers.delete(id);
        callback();
      }, delayMs);
      timer.unref();
      timers.set(id, timer);
      return { id };
    },
    clearTimeout(handle) {
      clearTimeout(timers.get(handle.id));
      timers.delete(handle.id);
    },
  };
}
