// A map bounded to `capacity` entries that forgets the least recently used one first.

export class LruCache<K, V> {
  readonly #capacity: number;
  // A Map iterates in insertion order: re-inserting on each hit keeps the oldest use first.
  readonly #entries = new Map<K, V>();
  #evictions = 0;

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Entries dropped to stay within capacity, since creation. */
  get evictions(): number {
    return this.#evictions;
  }

  /** The value of `key`, marking it as just used; undefined when absent. */
  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
      this.#evictions++;
    }
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }
}
