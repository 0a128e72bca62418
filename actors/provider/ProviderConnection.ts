// One actor per configured provider: its circuit breaker (opossum), token-bucket rate limit and
// in-flight window. The channel reads its health to choose where a message goes; a crash restarts
// only this connection (its transport is rebuilt), with backoff.
import CircuitBreaker from 'opossum';
import { TokenBucket } from '../../runtime/flow/TokenBucket.ts';
import type { ActorBehavior, ActorRef, AnyActorRef, ReplyTo } from '../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import type { Logger } from '../../runtime/logging/createLogger.ts';
import type { Clock } from '../../runtime/time/Clock.ts';
import { type OutgoingMessage, type Provider, ProviderError, type SendReceipt } from './Provider.ts';

export type BreakerOptions = {
  /** A send slower than this counts as a failure. */
  readonly timeoutMs: number;
  /** Failure percentage, within the rolling window, that opens the breaker. */
  readonly errorThresholdPercentage: number;
  /** How long the breaker stays open before letting one trial through. */
  readonly resetTimeoutMs: number;
  /** Sends needed in the window before the breaker may open. */
  readonly volumeThreshold: number;
};

export type ProviderConnectionOptions = {
  /** Actor name and provider name as recorded on messages (`smtp-primary`). */
  readonly name: string;
  /** Builds the transport; called at start and after every restart. */
  readonly createProvider: () => Provider;
  readonly breaker: BreakerOptions;
  readonly rate: { readonly perSecond: number; readonly burst: number };
  /** Most sends in flight at once. */
  readonly window: number;
  readonly clock: Clock;
  readonly logger: Logger;
};

export type BreakerState = 'closed' | 'open' | 'halfOpen';

/** The ProviderConnection's protocol. */
export type ProviderConnectionMessage =
  | { readonly type: 'send'; readonly outgoing: OutgoingMessage; readonly replyTo: ReplyTo<SendReceipt> }
  | { readonly type: 'settled' };

type ConnectionState = {
  readonly provider: Provider;
  readonly breaker: CircuitBreaker<[OutgoingMessage], SendReceipt>;
  inFlight: number;
};

export const BREAKER_OPEN_CODE = 'EOPENBREAKER';

export class ProviderConnection {
  readonly name: string;
  readonly ref: ActorRef<ProviderConnectionMessage>;
  readonly bucket: TokenBucket;
  readonly #system: ActorSystem;
  readonly #options: ProviderConnectionOptions;
  #state: ConnectionState | undefined;
  #reserved = 0;
  #sends = 0;
  #failures = 0;

  constructor(system: ActorSystem, parent: AnyActorRef, options: ProviderConnectionOptions) {
    this.name = options.name;
    this.#system = system;
    this.#options = options;
    this.bucket = new TokenBucket({
      ratePerSecond: options.rate.perSecond,
      burst: options.rate.burst,
      clock: options.clock,
    });
    const behavior: ActorBehavior<ConnectionState, ProviderConnectionMessage> = {
      kind: 'provider',
      init: () => this.#open(),
      receive: (state, message, context) => {
        switch (message.type) {
          case 'send':
            this.#send(state, message, context.self);
            return state;
          case 'settled':
            state.inFlight--;
            return state;
        }
      },
      onStop: (state) => this.#close(state),
      gauges: (state) => ({
        provider: state.provider.name,
        breaker: breakerState(state.breaker),
        inFlight: this.#reserved,
        sending: state.inFlight,
        window: options.window,
        tokens: Math.floor(this.bucket.tokens),
        ratePerSecond: options.rate.perSecond,
        sends: this.#sends,
        failures: this.#failures,
      }),
    };
    this.ref = system.spawn(parent, options.name, behavior);
  }

  /** The breaker's state; `open` also while the connection is restarting. */
  get breaker(): BreakerState {
    if (this.#state === undefined || this.#system.statusOf(this.ref) !== 'running') return 'open';
    return breakerState(this.#state.breaker);
  }

  /** Deliveries holding a place in this connection's window, from reservation until they settle. */
  get inFlight(): number {
    return this.#reserved;
  }

  /**
   * Takes a place in the window (and a token) when a delivery may go now: running, breaker not open,
   * window not full. A half-open breaker lets exactly one trial through. The place is held from here,
   * through loading and claiming the message, until {@link release} — so the window bounds every
   * message in `sending`, not only those already on the wire.
   */
  tryReserve(): boolean {
    const breaker = this.breaker;
    if (breaker === 'open' || this.#reserved >= this.#options.window) return false;
    if (breaker === 'halfOpen' && this.#reserved > 0) return false;
    if (!this.bucket.tryTake()) return false;
    this.#reserved++;
    return true;
  }

  /** Gives back a place taken by {@link tryReserve}, whatever became of the delivery. */
  release(): void {
    if (this.#reserved > 0) this.#reserved--;
  }

  /** Milliseconds until the bucket has a token. */
  msUntilToken(): number {
    return this.bucket.msUntilToken();
  }

  /** Sends through the breaker; rejects with a classified ProviderError. */
  send(outgoing: OutgoingMessage): Promise<SendReceipt> {
    return this.#system.ask(
      this.ref,
      (replyTo: ReplyTo<SendReceipt>) => ({ type: 'send' as const, outgoing, replyTo }),
      this.#options.breaker.timeoutMs + 5_000,
    );
  }

  #open(): ConnectionState {
    const provider = this.#options.createProvider();
    const breaker = new CircuitBreaker<[OutgoingMessage], SendReceipt>((outgoing) => provider.send(outgoing), {
      name: this.name,
      timeout: this.#options.breaker.timeoutMs,
      errorThresholdPercentage: this.#options.breaker.errorThresholdPercentage,
      resetTimeout: this.#options.breaker.resetTimeoutMs,
      volumeThreshold: this.#options.breaker.volumeThreshold,
      // A permanent refusal (an invalid address) says nothing about the provider's health.
      errorFilter: (error: unknown) => error instanceof ProviderError && !error.retriable,
    });
    const log = this.#options.logger;
    breaker.on('open', () => log.warn({ provider: this.name }, 'circuit breaker opened'));
    breaker.on('halfOpen', () => log.info({ provider: this.name }, 'circuit breaker half-open: trying one send'));
    breaker.on('close', () => log.info({ provider: this.name }, 'circuit breaker closed'));
    this.#state = { provider, breaker, inFlight: 0 };
    return this.#state;
  }

  async #close(state: ConnectionState): Promise<void> {
    state.breaker.shutdown();
    await state.provider.close();
  }

  #send(
    state: ConnectionState,
    message: Extract<ProviderConnectionMessage, { type: 'send' }>,
    self: ActorRef<ProviderConnectionMessage>,
  ): void {
    state.inFlight++;
    this.#sends++;
    state.breaker.fire(message.outgoing).then(
      (receipt) => {
        this.#system.dispatch(self, { type: 'settled' });
        message.replyTo.reply(receipt);
      },
      (error: unknown) => {
        this.#failures++;
        this.#system.dispatch(self, { type: 'settled' });
        message.replyTo.fail(this.#classify(error));
      },
    );
  }

  /** The breaker's own refusals become transient provider errors. */
  #classify(error: unknown): ProviderError {
    if (error instanceof ProviderError) return error;
    const code = (error as { code?: unknown }).code;
    if (code === BREAKER_OPEN_CODE)
      return new ProviderError(this.name, 'circuit breaker is open', {
        retriable: true,
        code: BREAKER_OPEN_CODE,
        cause: error,
      });
    if (code === 'ETIMEDOUT') {
      return new ProviderError(this.name, `no answer within ${this.#options.breaker.timeoutMs} ms`, {
        retriable: true,
        code: 'ETIMEDOUT',
        cause: error,
      });
    }
    return new ProviderError(this.name, error instanceof Error ? error.message : String(error), {
      retriable: true,
      cause: error,
    });
  }
}

function breakerState(breaker: CircuitBreaker<[OutgoingMessage], SendReceipt>): BreakerState {
  if (breaker.opened) return 'open';
  if (breaker.halfOpen) return 'halfOpen';
  return 'closed';
}
