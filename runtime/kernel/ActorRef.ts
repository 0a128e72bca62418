// References and contexts that the rest of the code sees: a reference carries its actor's protocol in
// its type, so dispatching the wrong message to it does not compile.

declare const protocol: unique symbol;

/** A reference to a live (or once live) actor that accepts messages of type `M`. */
export interface ActorRef<M> {
  readonly path: string;
  /** Type-level only: ties the reference to its protocol. Never set at run time. */
  readonly [protocol]?: (message: M) => void;
}

/** Any reference, whatever its protocol (a parent, a target to stop). */
export type AnyActorRef = ActorRef<never>;

/** The answer channel of an `ask`: an object, not an id, so two asks can never receive each other's reply. */
export interface ReplyTo<R> {
  reply(value: R): void;
  fail(error: Error): void;
}

/** Lifecycle states an actor moves through; `backoff` waits out a restart delay. */
export type ActorStatus = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped';

export const ACTOR_STATUSES: readonly ActorStatus[] = ['starting', 'running', 'backoff', 'stopping', 'stopped'];

/** What an actor's handlers see of themselves. */
export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  readonly path: string;
  readonly name: string;
}

export type GaugeValue = number | string | boolean | null;

/**
 * An actor's behaviour, shared by every actor of its kind (one object per kind, not per actor, so an
 * idle actor costs only its state).
 */
export type ActorBehavior<S, M> = {
  /** Kind shown in introspection and metrics (`channel`, `recipient`, `shard`, `supervisor`). */
  readonly kind: string;
  /** Builds the state at start and after each restart; may load it from a store. */
  init(context: ActorContext<M>): S | Promise<S>;
  receive(state: S, message: M, context: ActorContext<M>): S | Promise<S>;
  /** Runs once before the actor stops (passivation, shutdown): the place to flush state. */
  onStop?(state: S, context: ActorContext<M>): void | Promise<void>;
  /** Extra live figures for introspection (queue depth, breaker state, rate). */
  gauges?(state: S): Readonly<Record<string, GaugeValue>>;
  /** True for parents of many entities (shards): introspection counts their children instead of listing them. */
  readonly summarizesChildren?: boolean;
};
