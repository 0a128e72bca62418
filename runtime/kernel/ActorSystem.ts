// A typed face on the nact kernel: references carry their message protocol, every actor has a
// deterministic name, and the system is an object handed to whoever needs it (no globals of ours).
import * as nact from 'nact';

/** A reference to an actor that accepts messages of type `M`. */
export type ActorRef<M> = { readonly path: string; readonly nact: nact.Ref<M> };

/** The context an actor's handler receives. */
export type ActorContext<M> = { readonly self: ActorRef<M>; readonly path: string };

export type ActorHandler<S, M> = (state: S, message: M, context: ActorContext<M>) => S | Promise<S>;

export type SpawnOptions<S> = {
  readonly initialState: S;
  /** Called with the failure when a handler throws; the actor then carries on with its last state. */
  readonly onFailure: (error: unknown, path: string) => void;
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$/;

/** An actor name that is not a valid, deterministic name. */
export class InvalidActorNameError extends Error {
  constructor(name: string) {
    super(`invalid actor name ${JSON.stringify(name)}: use letters, digits and _ . : @ - (at most 200)`);
    this.name = 'InvalidActorNameError';
  }
}

export class ActorSystem {
  readonly #root: nact.ActorSystemRef;
  readonly name: string;
  #stopped = false;

  private constructor(name: string) {
    this.name = name;
    // nact.start takes `{ name }` as its first extension (see nact's system.js); its typings omit it.
    // The name is also nact's key in its process-wide system map, so it must be unique per process.
    this.#root = nact.start({ name } as unknown as nact.Plugin);
  }

  static start(name = 'switchboard'): ActorSystem {
    return new ActorSystem(name);
  }

  get root(): ActorRef<never> {
    return { path: `/${this.name}`, nact: this.#root };
  }

  /** Spawns a stateful child of `parent` under a name derived from its entity key. */
  spawn<S, M>(
    parent: ActorRef<unknown>,
    name: string,
    handler: ActorHandler<S, M>,
    options: SpawnOptions<S>,
  ): ActorRef<M> {
    if (!NAME.test(name)) throw new InvalidActorNameError(name);
    const path = `${parent.path}/${name}`;
    const ref: nact.Ref<M> = nact.spawn(
      parent.nact,
      async (state: S, message: M, context: nact.ActorContext<M, nact.Ref<never>>) => {
        try {
          return await handler(state, message, { self: { path, nact: context.self }, path });
        } catch (error) {
          options.onFailure(error, path);
          return state;
        }
      },
      name,
      { initialState: options.initialState },
    );
    return { path, nact: ref };
  }

  /** Spawns a child whose only job is to parent others (a supervisor or a shard). */
  spawnGroup(parent: ActorRef<unknown>, name: string): ActorRef<never> {
    return this.spawn<null, never>(parent, name, (state) => state, {
      initialState: null,
      onFailure: () => {},
    });
  }

  dispatch<M>(target: ActorRef<M>, message: M): void {
    nact.dispatch(target.nact, message);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    nact.stop(this.#root);
  }
}
