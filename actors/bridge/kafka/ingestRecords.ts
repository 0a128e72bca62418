// One slice of a partition's records through the send intake, in offset order: tenant and parse, the
// channel's push-back, durable acceptance, dead letters. It says how many leading records are done
// (their offsets may be committed) and why it stopped short, never skipping past an unfinished record.
import type { IHeaders } from 'kafkajs';
import type { Channel, SendRequest } from '../../../runtime/messages/sendRequest.ts';
import type { IntakeOutcome, SendIntake } from '../SendIntake.ts';

/** A consumed record, as kafkajs hands it over. */
export type IngestRecord = {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: IHeaders | undefined;
};

/** A record that is not a valid send, with the reason that goes into its dead-letter headers. */
export type DeadLetter = { readonly record: IngestRecord; readonly reason: string };

/** Why a slice stopped before its end; `offset` is that of the first record not done. */
export type IngestStop =
  | { readonly kind: 'pressured'; readonly channel: Channel; readonly offset: string }
  | { readonly kind: 'unavailable'; readonly error: Error; readonly offset: string };

export type IngestResult = {
  /** Leading records finished (accepted or dead-lettered): everything before index `done`. */
  readonly done: number;
  /** Accepted sends, duplicates of earlier ones included. */
  readonly accepted: number;
  /** Accepted sends that were new (not a repeated idempotency key). */
  readonly created: number;
  readonly deadLettered: number;
  readonly stop: IngestStop | undefined;
};

export type IngestContext = {
  readonly intake: Pick<SendIntake, 'parse' | 'isOpen' | 'accept'>;
  /** The tenant of records without a tenant header. */
  readonly defaultTenant: string;
  /**
   * The idempotency key of a send that has none of its own: derived from the record's position, so a
   * record read again (after a rebalance, a crash before the commit) is accepted once.
   */
  readonly fallbackKey: (record: IngestRecord) => string;
  /** Produces the dead letters and resolves once the broker has them all. */
  readonly deadLetter: (letters: readonly DeadLetter[]) => Promise<void>;
};

/** Header naming the tenant a record sends for; without it, the default tenant. */
export const TENANT_HEADER = 'x-switchboard-tenant';

// Tenants are part of recipient keys (`tenant:recipient`), so they never hold `:`.
const TENANT = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;

type Valid = { readonly index: number; readonly tenant: string; readonly request: SendRequest };

/**
 * Ingests `records` (consecutive, in offset order) and reports how far it got. Rejects only when the
 * intake or the dead-letter producer throws; records before that may have been accepted, and since
 * their keys are stable, reading them again accepts nothing twice.
 */
export async function ingestRecords(records: readonly IngestRecord[], context: IngestContext): Promise<IngestResult> {
  const { intake } = context;
  const reasons = new Map<number, string>();
  const valid: Valid[] = [];
  let end = records.length;
  let stop: IngestStop | undefined;

  for (const [index, record] of records.entries()) {
    const tenant = tenantOf(record.headers, context.defaultTenant);
    if (!tenant.ok) {
      reasons.set(index, tenant.reason);
      continue;
    }
    const parsed = intake.parse(record.value);
    if (!parsed.ok) {
      reasons.set(index, parsed.reason);
      continue;
    }
    const { channel } = parsed.request;
    if (!intake.isOpen(channel)) {
      end = index;
      stop = { kind: 'pressured', channel, offset: record.offset };
      break;
    }
    const request =
      parsed.request.idempotencyKey === undefined
        ? { ...parsed.request, idempotencyKey: context.fallbackKey(record) }
        : parsed.request;
    valid.push({ index, tenant: tenant.tenant, request });
  }

  const outcomes = await acceptByTenant(intake, valid);

  let accepted = 0;
  let created = 0;
  for (const item of valid) {
    const outcome = outcomes.get(item.index);
    if (outcome === undefined) throw new Error(`the intake returned no outcome for record ${item.index}`);
    if (outcome.kind === 'unavailable') {
      // Records after this one may be accepted already; they are read again, and their keys make
      // that harmless. Nothing from here on is committed or dead-lettered.
      end = item.index;
      stop = { kind: 'unavailable', error: outcome.error, offset: (records[item.index] as IngestRecord).offset };
      break;
    }
    if (outcome.kind === 'invalid') reasons.set(item.index, outcome.reason);
    else {
      accepted++;
      if (outcome.created) created++;
    }
  }

  const letters: DeadLetter[] = [...reasons]
    .filter(([index]) => index < end)
    .sort(([a], [b]) => a - b)
    .map(([index, reason]) => ({ record: records[index] as IngestRecord, reason }));
  if (letters.length > 0) await context.deadLetter(letters);

  return { done: end, accepted, created, deadLettered: letters.length, stop };
}

/** Accepts each tenant's sends in one call (they share transactions); the tenants in parallel. */
async function acceptByTenant(
  intake: IngestContext['intake'],
  valid: readonly Valid[],
): Promise<Map<number, IntakeOutcome>> {
  const byTenant = new Map<string, Valid[]>();
  for (const item of valid) {
    const group = byTenant.get(item.tenant);
    if (group === undefined) byTenant.set(item.tenant, [item]);
    else group.push(item);
  }
  const outcomes = new Map<number, IntakeOutcome>();
  await Promise.all(
    [...byTenant].map(async ([tenant, items]) => {
      const results = await intake.accept(
        tenant,
        items.map((item) => item.request),
      );
      items.forEach((item, k) => {
        const outcome = results[k];
        if (outcome !== undefined) outcomes.set(item.index, outcome);
      });
    }),
  );
  return outcomes;
}

function tenantOf(
  headers: IHeaders | undefined,
  fallback: string,
): { ok: true; tenant: string } | { ok: false; reason: string } {
  const raw = headers?.[TENANT_HEADER];
  if (raw === undefined) return { ok: true, tenant: fallback };
  if (Array.isArray(raw) && raw.length !== 1)
    return { ok: false, reason: `header ${TENANT_HEADER}: given ${raw.length} times; give it once` };
  const tenant = (Array.isArray(raw) ? (raw[0] as Buffer | string) : raw).toString();
  if (!TENANT.test(tenant))
    return {
      ok: false,
      reason: `header ${TENANT_HEADER}: ${JSON.stringify(tenant.slice(0, 140))} is not a tenant (letters, digits and _ . @ -, at most 128)`,
    };
  return { ok: true, tenant };
}
