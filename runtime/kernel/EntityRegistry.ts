// Sharded entities: maps an entity key (a recipient, a campaign) to a live actor, spawning it on
// first use under one of N shard parents and passivating it after an idle time. Messages go straight
// to the entity's reference; a shard only parents, it never handles per-message traffic.
import { createHash } from 'node:crypto';
import type { TimerHandle } from '../time/Clock.ts';
import type { ActorCell } from './ActorCell.ts';
import type { ActorBehavior, ActorContext, ActorRef, AnyActorRef, ReplyTo } from './ActorRef.ts';
import type { ActorSystem } from './ActorSystem.ts';

export type EntityRegistryOptions<S, M> = {
  readonly system: ActorSystem;
  /** The supervisor the shards hang under (`/switchboard/recipients`). */
  readonly parent: AnyActorRef;
  readonly shards: number;
  /** Prefix of entity names: `r` gives `r:user-42`. */
  readonly prefix: string;
  /** One behaviour for every entity; `context.name` and {@link EntityRegistry.keyOf} tell it which. */
  readonly behavior: ActorBehavior<S, M>;
  /** An entity with an empty mailbox and no message for this long is passivated (its state flushed). */
  readonly idleMs: number;
  /** How often idle entities are looked for; a quarter of `idleMs` by default. */
  readonly sweepEveryMs?: number;
  /**
   * Most live entities: past it, the least recently activated idle ones are passivated at once (down
   * to 90 % of it), so memory stays bounded when many entities are touched within `idleMs`.
   */
  readonly maxLive?: number;
};

export type EntityRegistryStats = {
  readonly live: number;
  readonly passivating: number;
  readonly activations: number;
  readonly passivations: number;
};

const SAFE_KEY = /^[A-Za-z0-9_.:@-]{1,150}$/;

/** `r:user-42` for plain keys; a digest for keys with other characters, so the name stays deterministic and valid. */
export function entityName(prefix: string, key: string): string {
  return SAFE_KEY.test(key)
    ? `${prefix}:${key}`
    : `${prefix}#${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;
}

/** FNV-1a: a fast, stable spread of keys over shards. */
export function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

const SHARD_BEHAVIOR: ActorBehavior<null, never> = {
  kind: 'shard',
  init: () => null,
  receive: (state) => state,
  summarizesChildren: true,
};

export class EntityRegistry<S, M> {
  readonly #system: ActorSystem;
  readonly #shards: ActorRef<never>[];
  readonly #behavior: ActorBehavior<S, M>;
  readonly #prefix: string;
  readonly #idleMs: number;
  readonly #sweepEveryMs: number;
  readonly #live = new Map<string, ActorCell<S, M>>();
  /** Keys whose previous incarnation is still flushing, with the messages that arrived meanwhile. */
  readonly #passivating = new Map<string, { done: Promise<void>; waiting: M[] }>();
  #sweepTimer: TimerHandle | undefined;
  readonly #maxLive: number;
  #trimScheduled = false;
  #activations = 0;
  #passivations = 0;
  #closed = false;

  constructor(options: EntityRegistryOptions<S, M>) {
    this.#system = options.system;
    this.#behavior = options.behavior;
    this.#prefix = options.prefix;
    this.#idleMs = options.idleMs;
    this.#sweepEveryMs = options.sweepEveryMs ?? Math.max(1, Math.floor(options.idleMs / 4));
    this.#maxLive = options.maxLive ?? Number.POSITIVE_INFINITY;
    this.#shards = Array.from({ length: options.shards }, (_, i) =>
      options.system.spawn(options.parent, `shard-${String(i).padStart(2, '0')}`, SHARD_BEHAVIOR),
    );
    this.#armSweep();
  }

  /** The entity key an actor of this registry stands for. */
  keyOf(context: ActorContext<M>): string {
    const key = (context as unknown as ActorCell<S, M>).entityKey;
    if (key === undefined) throw new Error(`${context.path} is not an entity of this registry`);
    return key;
  }

  /** Sends `message` to the entity, activating it if needed. */
  tell(key: string, message: M): void {
    const live = this.#live.get(key);
    if (live !== undefined && (live.closing || live.status === 'stopped')) {
      // Stopped by its supervisor: the name frees up once it has stopped; the message waits for that.
      this.#live.delete(key);
      this.#passivating.set(key, { done: live.whenStopped(), waiting: [] });
      this.#afterStop(key, this.#passivating.get(key)).catch((error: unknown) =>
        this.#system.logger.error({ err: error, key }, 'could not re-activate an entity after its stop'),
      );
    }
    const pending = this.#passivating.get(key);
    if (pending) {
      pending.waiting.push(message);
      return;
    }
    this.#system.dispatch(this.#activate(key), message);
  }

  /** Asks the entity, activating it (after any flush in progress) if needed. */
  async ask<R>(key: string, build: (replyTo: ReplyTo<R>) => M, timeoutMs: number): Promise<R> {
    await this.#passivating.get(key)?.done;
    return this.#system.ask(this.#activate(key), build, timeoutMs);
  }

  /** True when the entity is live in memory now. */
  isLive(key: string): boolean {
    return this.#live.has(key);
  }

  get size(): number {
    return this.#live.size;
  }

  stats(): EntityRegistryStats {
    return {
      live: this.#live.size,
      passivating: this.#passivating.size,
      activations: this.#activations,
      passivations: this.#passivations,
    };
  }

  /** Passivates every entity idle for `idleMs` or more; runs on its own timer too. */
  sweep(): Promise<void> {
    const now = this.#system.clock.now();
    const idle: Array<Promise<void>> = [];
    for (const [key, cell] of this.#live) {
      if (cell.mailbox === 0 && cell.status === 'running' && now - cell.lastActivity >= this.#idleMs) {
        idle.push(this.passivate(key));
      }
    }
    return Promise.all(idle).then(() => undefined);
  }

  /** Stops the entity after the messages already sent to it, flushing its state; a later message re-activates it. */
  passivate(key: string): Promise<void> {
    const cell = this.#live.get(key);
    if (cell === undefined) return this.#passivating.get(key)?.done ?? Promise.resolve();
    this.#live.delete(key);
    this.#passivations++;
    const entry = { done: this.#system.stop(cell), waiting: [] as M[] };
    this.#passivating.set(key, entry);
    return this.#afterStop(key, entry);
  }

  /** Once the previous incarnation has stopped, delivers what waited for it to a new one. */
  #afterStop(key: string, entry: { done: Promise<void>; waiting: M[] } | undefined): Promise<void> {
    if (entry === undefined) return Promise.resolve();
    return entry.done.then(() => {
      if (this.#passivating.get(key) === entry) this.#passivating.delete(key);
      if (this.#closed) {
        for (const message of entry.waiting) this.#system.deadLetters.record(`entity ${key}`, message, 'shutdown');
        return;
      }
      for (const message of entry.waiting) this.tell(key, message);
    });
  }

  /** Passivates everything (flushing state) and stops sweeping; for shutdown. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweepTimer) this.#system.clock.clearTimeout(this.#sweepTimer);
    await Promise.all([...this.#live.keys()].map((key) => this.passivate(key)));
    await Promise.all([...this.#passivating.values()].map((entry) => entry.done));
  }

  #activate(key: string): ActorRef<M> {
    const live = this.#live.get(key);
    if (live !== undefined) return live;
    const shard = this.#shards[shardOf(key, this.#shards.length)];
    if (shard === undefined) throw new Error('entity registry has no shards');
    const cell = this.#system.spawn(shard, entityName(this.#prefix, key), this.#behavior, {
      eager: false,
    }) as ActorCell<S, M>;
    cell.entityKey = key;
    this.#live.set(key, cell);
    this.#activations++;
    this.#scheduleTrim(0);
    return cell;
  }

  /** Trims soon when over the live limit (entities just activated are busy; those are looked at again later). */
  #scheduleTrim(delayMs: number): void {
    if (this.#live.size <= this.#maxLive || this.#trimScheduled || this.#closed) return;
    this.#trimScheduled = true;
    setTimeout(() => {
      this.#trimScheduled = false;
      this.#trim();
    }, delayMs).unref();
  }

  /**
   * Passivates idle entities, least recently activated first (the live map keeps activation order),
   * until 90 % of `maxLive` are live; busy ones are left alone.
   */
  #trim(): void {
    if (this.#closed) return;
    let excess = this.#live.size - Math.floor(this.#maxLive * 0.9);
    const chosen: string[] = [];
    for (const [key, cell] of this.#live) {
      if (excess <= 0) break;
      if (cell.mailbox === 0 && cell.status === 'running') {
        chosen.push(key);
        excess--;
      }
    }
    for (const key of chosen) {
      this.passivate(key).catch((error: unknown) =>
        this.#system.logger.error({ err: error, key }, 'could not passivate an entity over the live limit'),
      );
    }
    if (excess > 0) this.#scheduleTrim(20);
  }

  /**
   * Sweeps on a fixed beat. Sweeps may overlap while earlier passivations still flush: choosing is
   * synchronous and a chosen entity leaves the live map at once, so none is passivated twice.
   */
  #armSweep(): void {
    if (this.#closed) return;
    this.#sweepTimer = this.#system.clock.setTimeout(() => {
      this.#armSweep();
      this.sweep().catch((error: unknown) => this.#system.logger.error({ err: error }, 'entity sweep failed'));
    }, this.#sweepEveryMs);
  }
}
