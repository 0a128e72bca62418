// The one way a send from a broker enters switchboard, the same as over HTTP: validated, admitted by
// its channel's backlog, durably accepted (group-committed), then routed to its recipient.
import type { PressureListener, PressureState } from '../../runtime/flow/PressureSignal.ts';
import type { AcceptResult, MessageStore } from '../../runtime/messages/MessageStore.ts';
import {
  type Channel,
  describeIssues,
  type Priority,
  type SendRequest,
  sendRequestSchema,
} from '../../runtime/messages/sendRequest.ts';
import { StoreUnavailableError } from '../../runtime/persistence/StoreError.ts';
import type { TemplateStore } from '../../runtime/templates/TemplateStore.ts';

/** A parsed record: a valid send, or the reason it is not one (for the dead-letter record). */
export type ParsedSend =
  { readonly ok: true; readonly request: SendRequest } | { readonly ok: false; readonly reason: string };

export type IntakeOutcome =
  | { readonly kind: 'accepted'; readonly id: string; readonly created: boolean }
  | { readonly kind: 'invalid'; readonly reason: string }
  /** Not written (the store is down or overloaded): do not acknowledge; try again later. */
  | { readonly kind: 'unavailable'; readonly error: Error };

export type SendIntakeDeps = {
  readonly messages: Pick<MessageStore, 'acceptMany'>;
  readonly templates: Pick<TemplateStore, 'missing'>;
  readonly deliver: (message: {
    id: string;
    channel: Channel;
    tenant: string;
    recipientId: string;
    priority: Priority;
  }) => void;
  readonly backlog: {
    pressure(channel: Channel): PressureState;
    onPressure(channel: Channel, listener: PressureListener): () => void;
    added(channel: Channel): void;
  };
};

export class SendIntake {
  readonly #deps: SendIntakeDeps;

  constructor(deps: SendIntakeDeps) {
    this.#deps = deps;
  }

  /** Parses raw bytes (JSON) into a send, or says why they are not one. */
  parse(raw: Buffer | string | null | undefined): ParsedSend {
    if (raw === null || raw === undefined || raw.length === 0) return { ok: false, reason: 'empty record' };
    let body: unknown;
    try {
      body = JSON.parse(raw.toString());
    } catch (error) {
      return { ok: false, reason: `not JSON: ${error instanceof Error ? error.message : String(error)}` };
    }
    const parsed = sendRequestSchema.safeParse(body);
    if (!parsed.success) {
      return {
        ok: false,
        reason: describeIssues(parsed.error)
          .map((issue) => `${issue.path}: ${issue.message}`)
          .join('; '),
      };
    }
    return { ok: true, request: parsed.data };
  }

  /** True when the channel takes new sends now; a pushed-back channel's source should pause. */
  isOpen(channel: Channel): boolean {
    return this.#deps.backlog.pressure(channel) === 'open';
  }

  /** Calls `listener` when the channel's push-back starts or ends; returns the unsubscribe function. */
  onPressure(channel: Channel, listener: PressureListener): () => void {
    return this.#deps.backlog.onPressure(channel, listener);
  }

  /**
   * Durably accepts valid sends of one tenant (they share transactions) and routes the new ones.
   * Resolves one outcome per item, in order, once every write has settled.
   */
  async accept(tenant: string, requests: readonly SendRequest[]): Promise<IntakeOutcome[]> {
    const templateIds = [...new Set(requests.flatMap((request) => (request.template ? [request.template.id] : [])))];
    let missing: Set<string>;
    try {
      missing = templateIds.length > 0 ? await this.#deps.templates.missing(tenant, templateIds) : new Set();
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      return requests.map(() => ({ kind: 'unavailable', error: failure }));
    }
    const outcomes = new Array<IntakeOutcome>(requests.length);
    const writable: number[] = [];
    requests.forEach((request, i) => {
      if (request.template && missing.has(request.template.id)) {
        outcomes[i] = { kind: 'invalid', reason: `template.id: template ${request.template.id} does not exist` };
      } else writable.push(i);
    });
    const settled = await Promise.allSettled(
      this.#deps.messages.acceptMany(writable.map((i) => ({ tenant, request: requests[i] as SendRequest }))),
    );
    settled.forEach((result, k) => {
      const i = writable[k] as number;
      const request = requests[i] as SendRequest;
      if (result.status === 'rejected') {
        const error = result.reason instanceof Error ? result.reason : new Error(String(result.reason));
        if (!(error instanceof StoreUnavailableError)) throw error;
        outcomes[i] = { kind: 'unavailable', error };
        return;
      }
      outcomes[i] = acceptedOutcome(result.value);
      if (result.value.created) {
        this.#deps.backlog.added(request.channel);
        this.#deps.deliver({
          id: result.value.id,
          channel: request.channel,
          tenant,
          recipientId: request.to.id,
          priority: request.priority,
        });
      }
    });
    return outcomes;
  }
}

function acceptedOutcome(result: AcceptResult): IntakeOutcome {
  return { kind: 'accepted', id: result.id, created: result.created };
}
