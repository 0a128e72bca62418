// A token bucket on the injected clock: `ratePerSecond` tokens refill continuously up to `burst`.
// (npm's rate limiters read the wall clock, which would make rate-limit tests sleep.)
import type { Clock } from '../time/Clock.ts';

export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #updatedAt: number;

  constructor(options: { ratePerSecond: number; burst: number; clock: Clock }) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError(
        `token bucket needs ratePerSecond > 0 and burst >= 1, got ${options.ratePerSecond} and ${options.burst}`,
      );
    }
    this.ratePerSecond = options.ratePerSecond;
    this.burst = options.burst;
    this.#clock = options.clock;
    this.#tokens = options.burst;
    this.#updatedAt = options.clock.now();
  }

  /** Tokens available now (fractional while refilling). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Takes one token if there is one. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0 when one is). */
  msUntilToken(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.ratePerSecond) * 1000);
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#updatedAt = now;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed / 1000) * this.ratePerSecond);
  }
}
