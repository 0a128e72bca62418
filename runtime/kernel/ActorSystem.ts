// The actor system: a typed face on the nact kernel with our own supervision (restart with backoff,
// intensity limits, escalation), dead letters, and asks that cannot lose their answer. It is an
// object handed to whoever needs it; nothing of ours lives in module globals.
import { randomUUID } from 'node:crypto';
import * as nact from 'nact';
import {
  admitRestart,
  restartDelay,
  restartWithBackoff,
  type SupervisionStrategy,
} from '../../supervisors/SupervisionStrategy.ts';
import type { Logger } from '../logging/createLogger.ts';
import type { Clock } from '../time/Clock.ts';
import { ActorCell, type CellHost, RESTART_SIGNAL, STOP_SIGNAL } from './ActorCell.ts';
import type { ActorBehavior, ActorRef, ActorStatus, AnyActorRef, ReplyTo } from './ActorRef.ts';
import { type DeadLetterReason, DeadLetters } from './DeadLetters.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:@#-]{0,199}$/;

/** An actor name that is not a valid, deterministic name. */
export class InvalidActorNameError extends Error {
  constructor(name: string) {
    super(`invalid actor name ${JSON.stringify(name)}: use letters, digits and _ . : @ # - (at most 200)`);
    this.name = 'InvalidActorNameError';
  }
}

/** A name already taken among the parent's children. */
export class DuplicateActorNameError extends Error {
  constructor(path: string) {
    super(`an actor already lives at ${path}`);
    this.name = 'DuplicateActorNameError';
  }
}

/** An `ask` whose answer did not come in time. */
export class AskTimeoutError extends Error {
  readonly path: string;
  constructor(path: string, timeoutMs: number) {
    super(`no answer from ${path} within ${timeoutMs} ms`);
    this.name = 'AskTimeoutError';
    this.path = path;
  }
}

/** A message or ask sent to an actor that has stopped. */
export class ActorStoppedError extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`actor ${path} has stopped`);
    this.name = 'ActorStoppedError';
    this.path = path;
  }
}

/** A child's failure handed to its parent by an `escalate` decision or an exceeded restart intensity. */
export class EscalatedFailure extends Error {
  readonly childPath: string;
  constructor(childPath: string, cause: unknown) {
    super(`failure escalated from ${childPath}`, { cause });
    this.name = 'EscalatedFailure';
    this.childPath = childPath;
  }
}

/** An escalation that reached the root: the tree could not heal itself there. */
export type RootEscalation = { readonly path: string; readonly error: string; readonly at: string };

export type SpawnOptions = {
  /** How this actor's failures are handled; defaults to its parent's `childSupervision`. */
  readonly supervision?: SupervisionStrategy;
  /** Default strategy for this actor's own children. */
  readonly childSupervision?: SupervisionStrategy;
  /** Build the state now (default) rather than on the first message. */
  readonly eager?: boolean;
};

export type ActorSystemOptions = {
  readonly name?: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Jitter source for restart delays. */
  readonly random?: () => number;
  /** Strategy for children of actors spawned without `childSupervision`. */
  readonly defaultSupervision?: SupervisionStrategy;
};

/**
 * nact accepts only `[a-z0-9-$_.+!*'(),]` in names, and our names may hold `:`, `@` and `#`
 * (`r:user-42`). Those map to characters our names never use, so the mapping stays one-to-one.
 */
function nactName(name: string): string {
  return name.replace(/[:@#]/g, (c) => (c === ':' ? '!' : c === '@' ? '*' : '$'));
}

const ROOT_BEHAVIOR: ActorBehavior<null, never> = { kind: 'root', init: () => null, receive: (state) => state };

export class ActorSystem implements CellHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly deadLetters: DeadLetters;
  readonly root: ActorCell<null, never>;
  readonly #nactSystem: nact.ActorSystemRef;
  readonly #random: () => number;
  readonly #defaultSupervision: SupervisionStrategy;
  readonly #childSupervision = new WeakMap<ActorCell, SupervisionStrategy>();
  /** Live actors by kind and status, kept current on every status change (metrics read it). */
  readonly #counts = new Map<string, Map<ActorStatus, number>>();
  readonly #restartsByKind = new Map<string, number>();
  readonly #rootEscalations: RootEscalation[] = [];
  #escalationCount = 0;
  #stopHookFailures = 0;
  #stopped = false;

  constructor(options: ActorSystemOptions) {
    this.clock = options.clock;
    this.logger = options.logger;
    this.#random = options.random ?? Math.random;
    this.#defaultSupervision = options.defaultSupervision ?? restartWithBackoff();
    this.deadLetters = new DeadLetters(options.logger, () => options.clock.now());
    // nact keys systems by name in a process-wide map (and its typings omit the `{ name }` extension),
    // so the nact name is unique per system; our own paths start at the root cell's name.
    this.#nactSystem = nact.start({ name: `switchboard-${randomUUID()}` } as unknown as nact.Plugin);
    this.root = new ActorCell(this, undefined, options.name ?? 'switchboard', ROOT_BEHAVIOR, this.#defaultSupervision);
    this.root.nactRef = this.#nactSystem;
    this.root.state = null;
    this.root.setStatus('running');
  }

  now(): number {
    return this.clock.now();
  }

  /**
   * Spawns a child of `parent` under `name`, a name derived from the entity it stands for (never
   * anonymous).
   * @throws {InvalidActorNameError | DuplicateActorNameError | ActorStoppedError}
   */
  spawn<S, M>(
    parent: AnyActorRef,
    name: string,
    behavior: ActorBehavior<S, M>,
    options: SpawnOptions = {},
  ): ActorRef<M> {
    const parentCell = parent as unknown as ActorCell;
    if (!NAME.test(name)) throw new InvalidActorNameError(name);
    if (parentCell.closing || parentCell.status === 'stopped' || this.#stopped)
      throw new ActorStoppedError(parentCell.path);
    if (parentCell.children?.has(name)) throw new DuplicateActorNameError(`${parentCell.path}/${name}`);
    const strategy = options.supervision ?? this.#childSupervision.get(parentCell) ?? this.#defaultSupervision;
    const cell = new ActorCell<S, M>(this, parentCell, name, behavior, strategy);
    if (options.childSupervision) this.#childSupervision.set(cell as ActorCell, options.childSupervision);
    cell.nactRef = nact.spawn(parentCell.nactRef as nact.Ref<never>, ActorCell.handle as never, nactName(name), {
      initialState: cell as never,
    });
    (parentCell.children ??= new Map<string, ActorCell>()).set(name, cell as unknown as ActorCell);
    this.statusChanged(cell as ActorCell, undefined, 'starting');
    if (options.eager !== false) this.#enqueue(cell as ActorCell, RESTART_SIGNAL);
    return cell;
  }

  /** Delivers `message` to `target`'s mailbox; to a stopped actor it becomes a dead letter. */
  dispatch<M>(target: ActorRef<M>, message: M): void {
    const cell = target as ActorCell<unknown, M>;
    if (cell.closing || cell.status === 'stopped') {
      this.deadLetter(cell as ActorCell, message, this.#stopped ? 'shutdown' : 'stopped');
      return;
    }
    cell.mailbox++;
    nact.dispatch(cell.nactRef as nact.Ref<M>, message);
  }

  /**
   * Sends the message built around a fresh reply channel and waits for the answer.
   * @throws {AskTimeoutError} when no answer comes within `timeoutMs`; {ActorStoppedError} when the target has stopped.
   */
  ask<M, R>(target: ActorRef<M>, build: (replyTo: ReplyTo<R>) => M, timeoutMs: number): Promise<R> {
    const cell = target as ActorCell<unknown, M>;
    if (cell.closing || cell.status === 'stopped') return Promise.reject(new ActorStoppedError(cell.path));
    return new Promise<R>((resolve, reject) => {
      let settled = false;
      const timer = this.clock.setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new AskTimeoutError(cell.path, timeoutMs));
      }, timeoutMs);
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        finish();
      };
      this.dispatch(
        target,
        build({ reply: (value) => settle(() => resolve(value)), fail: (error) => settle(() => reject(error)) }),
      );
    });
  }

  /** The lifecycle status of the actor behind `target`. */
  statusOf(target: AnyActorRef): ActorStatus {
    return (target as unknown as ActorCell).status;
  }

  /** Looks an actor up by its path (`/switchboard/channels/email`), or undefined. */
  lookup(path: string): ActorCell | undefined {
    const parts = path.split('/').filter((part) => part !== '');
    if (parts[0] !== this.root.name) return undefined;
    let cell: ActorCell | undefined = this.root as ActorCell;
    for (const part of parts.slice(1)) cell = cell?.children?.get(part);
    return cell;
  }

  /**
   * Stops an actor after the messages already in its mailbox, children first; runs each stop hook
   * (state flush). New messages become dead letters at once.
   */
  async stop(target: AnyActorRef): Promise<void> {
    const cell = target as unknown as ActorCell;
    if (cell.status === 'stopped') return;
    await Promise.all([...(cell.children?.values() ?? [])].map((child) => this.stop(child)));
    if (cell === (this.root as ActorCell)) return;
    if (cell.backoffTimer) {
      this.clock.clearTimeout(cell.backoffTimer);
      cell.backoffTimer = undefined;
    }
    const stopped = cell.whenStopped();
    if (!cell.closing) {
      // From here on the mailbox ends with the stop signal; later messages are dead letters.
      cell.closing = true;
      this.#enqueue(cell, STOP_SIGNAL);
    }
    await stopped;
  }

  /** Stops every actor (children before parents, flushing state) and then the kernel. */
  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    await this.stop(this.root);
    this.#stopped = true;
    nact.stop(this.#nactSystem);
  }

  /** Escalations that reached the root since start: while there are any, the service is degraded. */
  rootEscalations(): readonly RootEscalation[] {
    return [...this.#rootEscalations];
  }

  get escalationCount(): number {
    return this.#escalationCount;
  }

  /** Live actors by kind and status. */
  counts(): Array<{ kind: string; status: ActorStatus; count: number }> {
    const rows: Array<{ kind: string; status: ActorStatus; count: number }> = [];
    for (const [kind, byStatus] of this.#counts)
      for (const [status, count] of byStatus) rows.push({ kind, status, count });
    return rows;
  }

  restartsByKind(): ReadonlyMap<string, number> {
    return this.#restartsByKind;
  }

  // ---- CellHost: called by cells ----

  deadLetter(cell: ActorCell, message: unknown, reason: DeadLetterReason): void {
    this.deadLetters.record(cell.path, message, reason);
  }

  statusChanged(cell: ActorCell, from: ActorStatus | undefined, to: ActorStatus): void {
    const counts = cell.parent?.childCounts;
    if (counts) {
      if (from !== undefined) counts[from]--;
      counts[to]++;
    }
    let byStatus = this.#counts.get(cell.kind);
    if (byStatus === undefined) this.#counts.set(cell.kind, (byStatus = new Map<ActorStatus, number>()));
    if (from !== undefined) byStatus.set(from, (byStatus.get(from) ?? 1) - 1);
    if (to === 'stopped') return;
    byStatus.set(to, (byStatus.get(to) ?? 0) + 1);
  }

  stopped(cell: ActorCell): void {
    if (cell.parent?.children?.get(cell.name) === cell) cell.parent.children.delete(cell.name);
    if (cell.parent?.childCounts) cell.parent.childCounts.stopped--;
    if (cell.nactRef) nact.stop(cell.nactRef);
  }

  stopHookFailed(cell: ActorCell, error: unknown): void {
    this.#stopHookFailures++;
    this.logger.error(
      { actor: cell.path, kind: cell.kind, err: error },
      'stop hook failed; the state it flushes may be lost',
    );
  }

  supervisionFailed(cell: ActorCell, error: unknown): void {
    this.#escalationCount++;
    this.logger.error({ actor: cell.path, kind: cell.kind, err: error }, 'supervision failed; stopping the actor');
    this.stop(cell).catch((stopError: unknown) =>
      this.logger.error({ actor: cell.path, err: stopError }, 'could not stop an actor whose supervision failed'),
    );
  }

  /** Stop hooks (state flushes) that threw since start. */
  get stopHookFailures(): number {
    return this.#stopHookFailures;
  }

  failed(cell: ActorCell, error: unknown): void {
    let directive = cell.strategy.decide(error);
    if (
      directive === 'restart' &&
      !admitRestart((cell.restartHistory ??= []), cell.strategy.intensity, this.clock.now())
    ) {
      this.logger.warn(
        { actor: cell.path, intensity: cell.strategy.intensity },
        'restart intensity exceeded; escalating',
      );
      directive = 'escalate';
    }
    this.logger.warn({ actor: cell.path, kind: cell.kind, directive, err: error }, 'actor failed');
    switch (directive) {
      case 'resume':
        return;
      case 'restart': {
        const attempt = cell.restartHistory?.length ?? 1;
        const delay = restartDelay(cell.strategy.backoff, attempt, this.#random);
        const targets =
          cell.strategy.scope === 'all-for-one' && cell.parent?.children ? [...cell.parent.children.values()] : [cell];
        for (const target of targets) this.#scheduleRestart(target, delay);
        return;
      }
      case 'stop':
        void this.stop(cell);
        return;
      case 'escalate':
        this.#escalate(cell, error);
        return;
    }
  }

  #escalate(cell: ActorCell, error: unknown): void {
    this.#escalationCount++;
    const parent = cell.parent;
    if (parent === undefined || parent === (this.root as ActorCell)) {
      const entry: RootEscalation = {
        path: cell.path,
        error: cell.lastError ?? String(error),
        at: new Date(this.clock.now()).toISOString(),
      };
      this.#rootEscalations.push(entry);
      if (this.#rootEscalations.length > 100) this.#rootEscalations.shift();
      this.logger.error({ ...entry }, 'failure escalated to the root; the service is degraded and keeps retrying');
      // The root keeps the process up: the subtree tries again after the longest backoff, with a fresh history.
      cell.restartHistory = undefined;
      this.#scheduleRestart(cell, cell.strategy.backoff.maxMs);
      return;
    }
    // The failed child waits while its parent is handled as if it had failed itself; whatever the
    // parent's supervisor decides, the child comes back with it.
    cell.restartHistory = undefined;
    this.#scheduleRestart(cell, cell.strategy.backoff.minMs);
    parent.failures++;
    parent.lastError = `escalated from ${cell.name}: ${cell.lastError ?? ''}`.slice(0, 500);
    this.failed(parent, new EscalatedFailure(cell.path, error));
  }

  /** Puts `cell` and its descendants in backoff; each rebuilds its state when the delay ends. */
  #scheduleRestart(cell: ActorCell, delayMs: number): void {
    if (cell.closing || cell.status === 'stopped' || cell.status === 'stopping') return;
    if (cell.backoffTimer) this.clock.clearTimeout(cell.backoffTimer);
    cell.setStatus('backoff');
    this.#restartsByKind.set(cell.kind, (this.#restartsByKind.get(cell.kind) ?? 0) + 1);
    cell.backoffTimer = this.clock.setTimeout(() => {
      cell.backoffTimer = undefined;
      this.#enqueue(cell, RESTART_SIGNAL);
    }, delayMs);
    for (const child of cell.children?.values() ?? []) this.#scheduleRestart(child, delayMs);
  }

  /** Kernel signals go through nact's mailbox without counting as messages. */
  #enqueue(cell: ActorCell, signal: typeof RESTART_SIGNAL | typeof STOP_SIGNAL): void {
    if (cell.nactRef) nact.dispatch(cell.nactRef, signal);
  }
}
