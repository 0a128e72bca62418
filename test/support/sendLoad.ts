// Drives logical sends over HTTP (`POST /v1/messages`) with bounded concurrency, retrying each one
// until the service answers it: a send counts as accepted only once a response says so (202, or 200
// for a repeated idempotency key). Every logical send carries its own idempotency key, so retrying
// after a lost response (the process died, the store was down) can never create a second message.

export type SendBody = { readonly idempotencyKey: string } & Record<string, unknown>;

/** The answer that settled one logical send. */
export type SendAnswer = { readonly key: string; readonly id: string; readonly status: 202 | 200 };

export type SendLoadOptions = {
  readonly apiKey: string;
  /** Logical sends in flight at once. */
  readonly concurrency: number;
  /** Logical sends to make; `Infinity` sends until stop(). */
  readonly total: number;
  /** The body of logical send `index`. */
  readonly body: (index: number) => SendBody;
  /** Base URL to send to now (`http://127.0.0.1:port`); may wait while the service is down. */
  readonly target: () => string | Promise<string>;
  /** Pause before a retry after a 503, 429 or no response. */
  readonly retryDelayMs?: number;
  /** A request that gets no response within this time is abandoned and retried. */
  readonly requestTimeoutMs?: number;
  /** Told about every request that got no response (connection refused or reset, timeout). */
  readonly onNoResponse?: (error: unknown) => void;
};

export type SendLoadStats = {
  /** Logical sends begun. */
  readonly started: number;
  /** Logical sends answered with 202 or 200. */
  readonly answered: number;
  readonly requests: number;
  readonly accepted202: number;
  readonly duplicate200: number;
  readonly unavailable503: number;
  readonly throttled429: number;
  readonly noResponse: number;
  /** Other statuses (each also recorded in `problems`). */
  readonly other: number;
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Most unexpected answers kept for the report. */
const MAX_PROBLEMS = 50;

export class SendLoad {
  /** The answer of every settled logical send, by idempotency key. */
  readonly answers = new Map<string, SendAnswer>();
  /** Unexpected answers: a status other than 202/200/429/503, a 202/200 without an id, a 503 that is not a problem document. */
  readonly problems: string[] = [];
  readonly #options: SendLoadOptions;
  #next = 0;
  #stopping = false;
  readonly #abort = new AbortController();
  /** Rejects when abort() is called: a worker waiting for the service to come back gives up too. */
  readonly #aborted: Promise<never>;
  #workers: Promise<void>[] = [];
  #counts = {
    requests: 0,
    accepted202: 0,
    duplicate200: 0,
    unavailable503: 0,
    throttled429: 0,
    noResponse: 0,
    other: 0,
  };

  constructor(options: SendLoadOptions) {
    this.#options = options;
    this.#aborted = new Promise<never>((_, reject) =>
      this.#abort.signal.addEventListener('abort', () => reject(this.#abort.signal.reason as Error), { once: true }),
    );
    this.#aborted.catch(() => {});
  }

  /** Starts the workers; `finished()` resolves when every logical send is answered. */
  start(): void {
    if (this.#workers.length > 0) throw new Error('the load is already running');
    this.#workers = Array.from({ length: this.#options.concurrency }, () => this.#work());
  }

  /** Resolves once `total` sends are answered, or once stop() has let the started ones finish. */
  async finished(): Promise<void> {
    await Promise.all(this.#workers);
  }

  /** Begins no new logical sends; waits until each one already begun has its answer. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.finished();
  }

  /**
   * Gives up at once: no new sends, requests in flight are cancelled, nothing more is retried. For
   * clean-up after a failure; a send cut off this way is simply left unanswered.
   */
  abort(): void {
    this.#stopping = true;
    this.#abort.abort(new Error('the send load was aborted'));
  }

  stats(): SendLoadStats {
    return { started: this.#next, answered: this.answers.size, ...this.#counts };
  }

  #problem(text: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(text);
  }

  async #work(): Promise<void> {
    while (!this.#stopping && this.#next < this.#options.total) {
      const index = this.#next++;
      await this.#sendUntilAnswered(this.#options.body(index)).catch((error: unknown) => {
        if (!this.#abort.signal.aborted) throw error;
      });
    }
  }

  async #sendUntilAnswered(body: SendBody): Promise<void> {
    const { apiKey, retryDelayMs = 100, requestTimeoutMs = 30_000 } = this.#options;
    const payload = JSON.stringify(body);
    for (;;) {
      this.#abort.signal.throwIfAborted();
      const base = await Promise.race([this.#options.target(), this.#aborted]);
      this.#counts.requests++;
      let response: Response;
      let text: string;
      try {
        response = await fetch(`${base}/v1/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: payload,
          signal: AbortSignal.any([AbortSignal.timeout(requestTimeoutMs), this.#abort.signal]),
        });
        text = await response.text();
      } catch (error) {
        this.#abort.signal.throwIfAborted();
        // No response: whether the send was committed is unknown; the retry with the same key tells.
        this.#counts.noResponse++;
        this.#options.onNoResponse?.(error);
        await sleep(retryDelayMs);
        continue;
      }
      switch (response.status) {
        case 202:
        case 200: {
          const answer = parseAccepted(text);
          if (answer === undefined) {
            this.#counts.other++;
            this.#problem(`${body.idempotencyKey}: ${response.status} without an id: ${text.slice(0, 200)}`);
            return;
          }
          if (response.status === 202) this.#counts.accepted202++;
          else this.#counts.duplicate200++;
          this.answers.set(body.idempotencyKey, { key: body.idempotencyKey, id: answer, status: response.status });
          return;
        }
        case 503: {
          this.#counts.unavailable503++;
          const contentType = response.headers.get('content-type') ?? '';
          const parsed = parseJson(text);
          if (!contentType.startsWith('application/problem+json') || (parsed as { status?: unknown })?.status !== 503) {
            this.#problem(`${body.idempotencyKey}: 503 that is not a problem document (${contentType}): ${text}`);
          }
          await sleep(retryDelayMs);
          continue;
        }
        case 429:
          this.#counts.throttled429++;
          await sleep(retryDelayMs);
          continue;
        default:
          this.#counts.other++;
          this.#problem(`${body.idempotencyKey}: unexpected ${response.status}: ${text.slice(0, 300)}`);
          return;
      }
    }
  }
}

/** Why a request got no response, in a word: the innermost cause's code (ECONNRESET, UND_ERR_SOCKET, ...). */
export function describeFailure(error: unknown): string {
  let e: unknown = error;
  while (e instanceof Error && e.cause !== undefined) e = e.cause;
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseAccepted(text: string): string | undefined {
  const parsed = parseJson(text) as { id?: unknown; status?: unknown } | undefined;
  return typeof parsed?.id === 'string' && parsed.status === 'accepted' ? parsed.id : undefined;
}
