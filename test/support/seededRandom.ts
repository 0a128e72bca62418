// Reproducible randomness for tests: a seeded PRNG (mulberry32) and the seed a chaos run uses.
import { randomInt } from 'node:crypto';

/** Uniform numbers in [0, 1), the same sequence for the same 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The seed from `SWITCHBOARD_CHAOS_SEED` (to replay a failed run), or a fresh random one. Print it:
 * the seed is what makes a failure reproducible.
 */
export function chaosSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.SWITCHBOARD_CHAOS_SEED;
  if (given !== undefined && given.trim() !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`SWITCHBOARD_CHAOS_SEED must be an integer from 0 to 4294967295, got ${JSON.stringify(given)}`);
    }
    return seed;
  }
  return randomInt(0, 0xffffffff);
}
