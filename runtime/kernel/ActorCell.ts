// One actor as the kernel keeps it: its state, lifecycle status, counters and supervision record.
// The cell is also the state nact holds for it, so nact calls back into the cell without a
// per-actor closure; nact provides the mailbox, ordering and the hierarchy of names.
import type * as nact from 'nact';
import type { SupervisionStrategy } from '../../supervisors/SupervisionStrategy.ts';
import { maskText } from '../logging/maskPersonalData.ts';
import type { ActorBehavior, ActorContext, ActorRef, ActorStatus } from './ActorRef.ts';
import type { DeadLetterReason } from './DeadLetters.ts';
import type { TimerHandle } from '../time/Clock.ts';

/** Kernel signals travel through the same mailbox as messages, so they keep their place in line. */
export const RESTART_SIGNAL: unique symbol = Symbol('restart');
export const STOP_SIGNAL: unique symbol = Symbol('stop');
export type KernelSignal = typeof RESTART_SIGNAL | typeof STOP_SIGNAL;

/** What a cell needs from its system. */
export interface CellHost {
  now(): number;
  deadLetter(cell: ActorCell, message: unknown, reason: DeadLetterReason): void;
  statusChanged(cell: ActorCell, from: ActorStatus | undefined, to: ActorStatus): void;
  /** Applies the cell's supervision strategy to a failure. */
  failed(cell: ActorCell, error: unknown): void;
  /** Detaches a stopped cell from nact and its parent. */
  stopped(cell: ActorCell): void;
  /** A stop hook (the state flush) threw: the state it should have saved may be lost. */
  stopHookFailed(cell: ActorCell, error: unknown): void;
  /** Supervision itself threw (a strategy's `decide`): the actor cannot be supervised and is stopped. */
  supervisionFailed(cell: ActorCell, error: unknown): void;
}

export type StatusCounts = Record<ActorStatus, number>;

export class ActorCell<S = unknown, M = unknown> implements ActorRef<M>, ActorContext<M> {
  readonly name: string;
  readonly parent: ActorCell | undefined;
  readonly behavior: ActorBehavior<S, M>;
  readonly strategy: SupervisionStrategy;
  readonly host: CellHost;
  nactRef: nact.Ref<unknown> | undefined;
  state: S | undefined;
  status: ActorStatus = 'starting';
  /** The entity key, for actors of an entity registry. */
  entityKey: string | undefined;
  /** Set when a stop is requested: the mailbox ends with the stop signal and new messages are dead letters. */
  closing = false;
  /** Messages dispatched to the cell and not yet taken from its mailbox. */
  mailbox = 0;
  processed = 0;
  failures = 0;
  restarts = 0;
  lastActivity: number;
  lastError: string | undefined;
  // Allocated on first use: most actors never have children, a stash or a restart history.
  children: Map<string, ActorCell> | undefined;
  childCounts: StatusCounts | undefined;
  stash: unknown[] | undefined;
  restartHistory: number[] | undefined;
  backoffTimer: TimerHandle | undefined;
  #stopped: Promise<void> | undefined;
  #resolveStopped: (() => void) | undefined;

  constructor(
    host: CellHost,
    parent: ActorCell | undefined,
    name: string,
    behavior: ActorBehavior<S, M>,
    strategy: SupervisionStrategy,
  ) {
    this.host = host;
    this.parent = parent;
    this.name = name;
    this.behavior = behavior;
    this.strategy = strategy;
    this.lastActivity = host.now();
    if (behavior.summarizesChildren)
      this.childCounts = { starting: 0, running: 0, backoff: 0, stopping: 0, stopped: 0 };
  }

  get path(): string {
    return this.parent === undefined ? `/${this.name}` : `${this.parent.path}/${this.name}`;
  }

  get self(): ActorRef<M> {
    return this;
  }

  get kind(): string {
    return this.behavior.kind;
  }

  /** The cell as the host handles every cell, whatever its protocol. */
  get #any(): ActorCell {
    return this as unknown as ActorCell;
  }

  setStatus(to: ActorStatus): void {
    const from = this.status;
    if (from === to) return;
    this.status = to;
    this.host.statusChanged(this.#any, from, to);
  }

  /** Resolves once the cell has stopped. */
  whenStopped(): Promise<void> {
    if (this.status === 'stopped') return Promise.resolve();
    this.#stopped ??= new Promise((resolve) => {
      this.#resolveStopped = resolve;
    });
    return this.#stopped;
  }

  /**
   * nact's handler for every cell: the state nact passes is the cell itself. A running actor whose
   * handler answers synchronously is served without allocating a promise (nact awaits either).
   */
  static handle(this: void, cell: ActorCell, message: unknown): ActorCell | Promise<ActorCell> {
    if (cell.status !== 'running' || typeof message === 'symbol') {
      // Nothing may reach nact as a crash: its own fault handling can leave an actor busy forever.
      return cell.#take(message).then(
        () => cell,
        (error: unknown) => {
          cell.host.supervisionFailed(cell.#any, error);
          return cell;
        },
      );
    }
    cell.mailbox--;
    cell.lastActivity = cell.host.now();
    let next: unknown;
    try {
      next = cell.behavior.receive(cell.state, message, cell);
    } catch (error) {
      cell.#failedOn(message, error);
      return cell;
    }
    if (typeof (next as { then?: unknown } | null)?.then === 'function') {
      return (next as Promise<unknown>).then(
        (state) => {
          cell.state = state;
          cell.processed++;
          return cell;
        },
        (error: unknown) => {
          cell.#failedOn(message, error);
          return cell;
        },
      );
    }
    cell.state = next;
    cell.processed++;
    return cell;
  }

  async #take(message: unknown): Promise<void> {
    if (message === RESTART_SIGNAL) return this.#start();
    if (message === STOP_SIGNAL) return this.stopNow();
    this.mailbox--;
    switch (this.status) {
      case 'stopped':
      case 'stopping':
        this.host.deadLetter(this.#any, message, 'stopped');
        return;
      case 'backoff':
        (this.stash ??= []).push(message);
        return;
      case 'starting':
        // Started by its first message (entities): anything stashed by a failed start goes first.
        (this.stash ??= []).push(message);
        await this.#start();
        return;
      case 'running':
        break;
    }
    await this.#process(message);
  }

  async #initialize(): Promise<boolean> {
    try {
      this.state = await this.behavior.init(this);
      this.setStatus('running');
      return true;
    } catch (error) {
      this.#fail(error);
      return false;
    }
  }

  async #process(message: unknown): Promise<void> {
    this.lastActivity = this.host.now();
    try {
      this.state = await this.behavior.receive(this.state as S, message as M, this);
      this.processed++;
    } catch (error) {
      this.#failedOn(message, error);
    }
  }

  /** The message that failed cannot be retried by the kernel; it is recorded, never silently lost. */
  #failedOn(message: unknown, error: unknown): void {
    this.host.deadLetter(this.#any, message, 'failed');
    this.#fail(error);
  }

  #fail(error: unknown): void {
    this.failures++;
    this.lastError = maskText(error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 500);
    try {
      this.host.failed(this.#any, error);
    } catch (supervisionError) {
      this.host.supervisionFailed(this.#any, supervisionError);
    }
  }

  /** Builds the state (first start, or a restart after backoff), then replays what arrived meanwhile, in order. */
  async #start(): Promise<void> {
    const restarting = this.status === 'backoff';
    if (!restarting && this.status !== 'starting') return;
    this.backoffTimer = undefined;
    if (restarting) this.setStatus('starting');
    if (!(await this.#initialize())) return;
    if (restarting) this.restarts++;
    while (this.status === 'running' && this.stash !== undefined && this.stash.length > 0) {
      const next = this.stash.shift();
      await this.#process(next);
    }
    if (this.stash?.length === 0) this.stash = undefined;
  }

  /** Runs the stop hook and detaches the cell. Idempotent. Call only from inside the cell's mailbox or for a cell that is not processing. */
  async stopNow(reason: DeadLetterReason = 'stopped'): Promise<void> {
    if (this.status === 'stopped') return;
    this.setStatus('stopping');
    if (this.behavior.onStop && this.state !== undefined) {
      try {
        await this.behavior.onStop(this.state, this);
      } catch (error) {
        this.failures++;
        this.lastError = maskText(error instanceof Error ? error.message : String(error)).slice(0, 500);
        this.host.stopHookFailed(this.#any, error);
      }
    }
    for (const message of this.stash ?? []) this.host.deadLetter(this.#any, message, reason);
    this.stash = undefined;
    this.setStatus('stopped');
    this.host.stopped(this.#any);
    this.#resolveStopped?.();
  }
}
