// One actor per live campaign, under /switchboard/campaigns. It reads the campaign's audience in
// slices, hands each slice to acceptance as sends keyed `campaignId:recipientId` (group-committed,
// so a re-read slice sends nobody twice), and paces itself by the campaign's rate and its channel's
// pressure. Its progress (the audience cursor just past the last accepted slice, the counts read) is
// saved every N recipients, on pause and at the end; after a crash or restart it continues from the
// last saved cursor. Operators' commands reach it as messages, so they are ordered with its reading:
// a pause takes effect once the slice in hand is accepted.
import type { IntakeOutcome } from '../bridge/SendIntake.ts';
import type { ActorBehavior, ActorContext, ActorRef, GaugeValue, ReplyTo } from '../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import type { Logger } from '../../runtime/logging/createLogger.ts';
import { TokenBucket } from '../../runtime/flow/TokenBucket.ts';
import type { PressureListener } from '../../runtime/flow/PressureSignal.ts';
import { ADDRESS_FIELD, type Channel, type SendRequest } from '../../runtime/messages/sendRequest.ts';
import { StoreUnavailableError } from '../../runtime/persistence/StoreError.ts';
import type { Clock, TimerHandle } from '../../runtime/time/Clock.ts';
import { AudienceNotFoundError } from './audience/openAudience.ts';
import { AudienceFormatError, type AudienceCursor, type AudienceItem } from './audience/readAudience.ts';
import type { AudienceSource } from './campaignDefinition.ts';
import {
  type CampaignProgress,
  type CampaignRecord,
  type CampaignStatus,
  type CampaignStore,
  FINAL_STATUSES,
  type MalformedLine,
  MAX_MALFORMED_LINES,
} from './CampaignStore.ts';

export type CampaignAction = 'start' | 'pause' | 'resume' | 'cancel';

/** The CampaignActor's protocol. */
export type CampaignMessage =
  | { readonly type: 'command'; readonly action: CampaignAction; readonly replyTo: ReplyTo<CampaignRecord> }
  | { readonly type: 'progress'; readonly replyTo: ReplyTo<CampaignRecord> }
  /** Read and accept the next slice; `run` names the reading it belongs to (older ones are ignored). */
  | { readonly type: 'pump'; readonly run: number }
  /** A scheduled campaign's start time has come. */
  | { readonly type: 'begin'; readonly run: number };

/** A command the campaign's status does not allow. */
export class CampaignStateError extends Error {
  readonly status: CampaignStatus;
  constructor(id: string, action: CampaignAction, status: CampaignStatus) {
    super(`campaign ${id} is ${status}; it cannot ${action}`);
    this.name = 'CampaignStateError';
    this.status = status;
  }
}

export type CampaignActorDeps = {
  readonly store: Pick<CampaignStore, 'get' | 'changeStatus' | 'saveProgress'>;
  readonly audience: { read(source: AudienceSource, from: AudienceCursor): AsyncGenerator<AudienceItem> };
  readonly intake: {
    accept(tenant: string, requests: readonly SendRequest[]): Promise<IntakeOutcome[]>;
    isOpen(channel: Channel): boolean;
    onPressure(channel: Channel, listener: PressureListener): () => void;
  };
  /** Sends accepted and unfinished on a channel (all sources). */
  readonly backlog: { count(channel: Channel): number };
  /**
   * A campaign reads on only while its channel's backlog is below this: marketing never fills the
   * durable backlog (transactional sends keep their room) and what is in memory stays bounded.
   */
  readonly maxBacklog: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Recipients per acceptance slice. */
  readonly sliceSize: number;
  /** Recipients between progress saves. */
  readonly snapshotEvery: number;
  /** Wait before trying again after S3 or the store did not answer. */
  readonly retryMs: number;
  /** Told when the campaign reaches a final status (its actor may be stopped). */
  readonly finished: (record: CampaignRecord) => void;
};

type CampaignState = {
  record: CampaignRecord;
  /** Bumped whenever reading stops, so pumps and timers of an earlier reading are ignored. */
  run: number;
  reading: AsyncGenerator<AudienceItem> | null;
  bucket: TokenBucket | null;
  timer: TimerHandle | null;
  unsubscribe: (() => void) | null;
  /** Recipients read since the last progress save. */
  unsaved: number;
  /** Recipients accepted per second over the last slices (for the gauge and the ETA). */
  rate: number;
};

const ALLOWED: Record<CampaignAction, readonly CampaignStatus[]> = {
  start: ['draft'],
  pause: ['running', 'scheduled'],
  resume: ['paused'],
  cancel: ['draft', 'scheduled', 'running', 'paused'],
};

/** The status a command leaves a campaign in when it is already there (the command is then a no-op). */
const SETTLED: Record<CampaignAction, readonly CampaignStatus[]> = {
  start: ['running', 'scheduled'],
  pause: ['paused'],
  resume: ['running', 'scheduled'],
  cancel: ['cancelled'],
};

/**
 * How a command meets a campaign in `status`: `noop` when the campaign is already where the command
 * leads, `refused` when the status does not allow it, else `change`.
 */
export function commandFits(action: CampaignAction, status: CampaignStatus): 'noop' | 'refused' | 'change' {
  if (SETTLED[action].includes(status)) return 'noop';
  return ALLOWED[action].includes(status) ? 'change' : 'refused';
}

/** The behaviour of the actor of one campaign (`tenant`, `id`). */
export function campaignBehavior(
  system: ActorSystem,
  tenant: string,
  id: string,
  deps: CampaignActorDeps,
): ActorBehavior<CampaignState, CampaignMessage> {
  const log = deps.logger.child({ campaign: id });

  const progressOf = (record: CampaignRecord): CampaignProgress => ({
    cursor: record.cursor,
    audienceBytes: record.audienceBytes,
    targeted: record.targeted,
    malformed: record.malformed,
    malformedLines: record.malformedLines,
  });

  const stopReading = (state: CampaignState): void => {
    state.run++;
    if (state.timer !== null) deps.clock.clearTimeout(state.timer);
    state.timer = null;
    state.unsubscribe?.();
    state.unsubscribe = null;
    const reading = state.reading;
    state.reading = null;
    // Closing the generator closes the S3 stream behind it.
    reading?.return(undefined).catch(() => {});
  };

  const wakeAfter = (state: CampaignState, self: ActorRef<CampaignMessage>, delayMs: number): void => {
    if (state.timer !== null) deps.clock.clearTimeout(state.timer);
    const run = state.run;
    state.timer = deps.clock.setTimeout(() => system.dispatch(self, { type: 'pump', run }), delayMs);
  };

  const startRunning = (state: CampaignState, self: ActorRef<CampaignMessage>): void => {
    const rate = state.record.definition.ratePerSecond;
    // A burst of one second's worth (at least one slice's pull of one recipient).
    state.bucket =
      rate === null ? null : new TokenBucket({ ratePerSecond: rate, burst: Math.max(1, rate), clock: deps.clock });
    system.dispatch(self, { type: 'pump', run: state.run });
  };

  const armStart = (state: CampaignState, self: ActorRef<CampaignMessage>): void => {
    const startAt = Date.parse(state.record.definition.startAt ?? '');
    const run = state.run;
    state.timer = deps.clock.setTimeout(
      () => system.dispatch(self, { type: 'begin', run }),
      Math.max(0, startAt - deps.clock.now()),
    );
  };

  const isFuture = (startAt: string | null): boolean => startAt !== null && Date.parse(startAt) > deps.clock.now();

  const settle = async (
    state: CampaignState,
    to: CampaignStatus,
    from: readonly CampaignStatus[],
    change: { started?: boolean; finished?: boolean; error?: string } = {},
  ): Promise<CampaignRecord> => {
    const updated = await deps.store.changeStatus(tenant, id, from, to, {
      ...change,
      progress: progressOf(state.record),
    });
    if (updated === null) {
      const current = await deps.store.get(tenant, id);
      throw new Error(`campaign ${id} changed status outside its actor (now ${current?.status ?? 'gone'})`);
    }
    state.record = updated;
    state.unsaved = 0;
    if (FINAL_STATUSES.has(to)) deps.finished(updated);
    return updated;
  };

  const command = async (
    state: CampaignState,
    action: CampaignAction,
    self: ActorRef<CampaignMessage>,
  ): Promise<CampaignRecord> => {
    const status = state.record.status;
    const fits = commandFits(action, status);
    if (fits === 'noop') return state.record;
    if (fits === 'refused') throw new CampaignStateError(id, action, status);
    switch (action) {
      case 'start':
      case 'resume': {
        const scheduled = isFuture(state.record.definition.startAt);
        const record = await settle(state, scheduled ? 'scheduled' : 'running', ALLOWED[action], {
          started: !scheduled,
        });
        if (scheduled) armStart(state, self);
        else startRunning(state, self);
        log.info({ action, status: record.status, startAt: record.definition.startAt }, 'campaign started');
        return record;
      }
      case 'pause':
        stopReading(state);
        log.info({ targeted: state.record.targeted }, 'campaign paused');
        return settle(state, 'paused', ALLOWED.pause);
      case 'cancel':
        stopReading(state);
        log.info({ targeted: state.record.targeted }, 'campaign cancelled');
        return settle(state, 'cancelled', ALLOWED.cancel, { finished: true });
    }
  };

  const fail = async (state: CampaignState, error: Error): Promise<void> => {
    stopReading(state);
    log.error({ err: error }, 'campaign failed');
    await settle(state, 'failed', ['running'], { finished: true, error: error.message });
  };

  const pump = async (state: CampaignState, self: ActorRef<CampaignMessage>): Promise<void> => {
    state.timer = null;
    state.unsubscribe?.();
    state.unsubscribe = null;
    const { record } = state;
    if (!deps.intake.isOpen(record.channel)) {
      // Pushed back: wait for the channel to open (and look again now and then in case it is missed).
      const run = state.run;
      state.unsubscribe = deps.intake.onPressure(record.channel, (pressure) => {
        if (pressure === 'open') system.dispatch(self, { type: 'pump', run });
      });
      wakeAfter(state, self, 1_000);
      return;
    }
    if (deps.backlog.count(record.channel) >= deps.maxBacklog) {
      wakeAfter(state, self, 100);
      return;
    }
    let want = deps.sliceSize;
    if (state.bucket !== null) {
      const tokens = Math.floor(state.bucket.tokens);
      if (tokens < 1) {
        wakeAfter(state, self, state.bucket.msUntilToken());
        return;
      }
      want = Math.min(want, tokens);
    }

    const startedAt = deps.clock.now();
    const entries: Array<Extract<AudienceItem, { ok: true }>> = [];
    const malformed: MalformedLine[] = [];
    let cursor = record.cursor;
    let done = false;
    try {
      state.reading ??= deps.audience.read(record.definition.audience, record.cursor);
      while (entries.length < want) {
        const next = await state.reading.next();
        if (next.done === true) {
          done = true;
          break;
        }
        const item = next.value;
        cursor = item.after;
        if (!item.ok) malformed.push({ line: item.line, reason: item.reason });
        else {
          const problem = unsendable(item, record.channel, id);
          if (problem === null) entries.push(item);
          else malformed.push({ line: item.line, reason: problem });
        }
      }
    } catch (error) {
      if (error instanceof AudienceNotFoundError || error instanceof AudienceFormatError) {
        await fail(state, error);
        return;
      }
      // S3 went away mid-read: what was read since the cursor is read again later.
      log.warn({ err: error, retryMs: deps.retryMs }, 'audience read failed; reading again from the saved cursor');
      stopReading(state);
      wakeAfter(state, self, deps.retryMs);
      return;
    }

    let refused = 0;
    if (entries.length > 0) {
      const outcomes = await deps.intake.accept(
        tenant,
        entries.map((item) => campaignSend(item, record, id)),
      );
      const unavailable = outcomes.find((outcome) => outcome.kind === 'unavailable');
      if (unavailable !== undefined) {
        // Not all of the slice is durable: read it again from the cursor later (its keys make that safe).
        log.warn({ err: unavailable.error, retryMs: deps.retryMs }, 'store unavailable; the slice is read again later');
        stopReading(state);
        wakeAfter(state, self, deps.retryMs);
        return;
      }
      outcomes.forEach((outcome, i) => {
        if (outcome.kind !== 'invalid') return;
        refused++;
        malformed.push({ line: (entries[i] as { line: number }).line, reason: outcome.reason });
      });
      if (state.bucket !== null) for (let i = 0; i < entries.length; i++) state.bucket.tryTake();
    }
    const accepted = entries.length - refused;
    malformed.sort((a, b) => a.line - b.line);
    const elapsed = Math.max(1, deps.clock.now() - startedAt);
    state.rate =
      state.rate === 0
        ? (entries.length * 1000) / elapsed
        : state.rate * 0.8 + ((entries.length * 1000) / elapsed) * 0.2;
    state.record = {
      ...record,
      cursor,
      targeted: record.targeted + accepted,
      malformed: record.malformed + malformed.length,
      malformedLines:
        record.malformedLines.length >= MAX_MALFORMED_LINES || malformed.length === 0
          ? record.malformedLines
          : [...record.malformedLines, ...malformed].slice(0, MAX_MALFORMED_LINES),
    };
    if (malformed.length > 0) {
      log.warn({ count: malformed.length, first: malformed[0] }, 'malformed audience lines skipped');
    }
    state.unsaved += accepted + malformed.length;

    if (done) {
      stopReading(state);
      const finished = await settle(state, 'completed', ['running'], { finished: true });
      log.info(
        { targeted: finished.targeted, malformed: finished.malformed },
        'campaign audience read; all sends accepted',
      );
      return;
    }
    if (state.unsaved >= deps.snapshotEvery) {
      await deps.store.saveProgress(tenant, id, progressOf(state.record));
      state.unsaved = 0;
    }
    system.dispatch(self, { type: 'pump', run: state.run });
  };

  return {
    kind: 'campaign',
    async init(context: ActorContext<CampaignMessage>) {
      const record = await deps.store.get(tenant, id);
      if (record === null) throw new Error(`campaign ${id} of ${tenant} does not exist`);
      const state: CampaignState = {
        record,
        run: 0,
        reading: null,
        bucket: null,
        timer: null,
        unsubscribe: null,
        unsaved: 0,
        rate: 0,
      };
      if (record.status === 'running') startRunning(state, context.self);
      if (record.status === 'scheduled') armStart(state, context.self);
      return state;
    },
    async receive(state, message, context) {
      switch (message.type) {
        case 'command':
          try {
            message.replyTo.reply(await command(state, message.action, context.self));
          } catch (error) {
            message.replyTo.fail(error instanceof Error ? error : new Error(String(error)));
            if (!(error instanceof CampaignStateError)) throw error;
          }
          return state;
        case 'progress':
          message.replyTo.reply(state.record);
          return state;
        case 'begin':
          if (message.run === state.run && state.record.status === 'scheduled') {
            await settle(state, 'running', ['scheduled'], { started: true });
            startRunning(state, context.self);
          }
          return state;
        case 'pump':
          if (message.run === state.run && state.record.status === 'running') {
            try {
              await pump(state, context.self);
            } catch (error) {
              if (!(error instanceof StoreUnavailableError)) throw error;
              log.warn({ err: error, retryMs: deps.retryMs }, 'store unavailable; campaign waits');
              stopReading(state);
              wakeAfter(state, context.self, deps.retryMs);
            }
          }
          return state;
      }
    },
    async onStop(state) {
      const live = state.record.status === 'running' || state.record.status === 'paused';
      stopReading(state);
      if (live && state.unsaved > 0) await deps.store.saveProgress(tenant, id, progressOf(state.record));
    },
    gauges(state): Readonly<Record<string, GaugeValue>> {
      return {
        status: state.record.status,
        targeted: state.record.targeted,
        malformed: state.record.malformed,
        line: state.record.cursor.line,
        ratePerSecond: Math.round(state.rate),
      };
    },
  };
}

/** Why an audience entry cannot be sent on the channel, or null. */
function unsendable(item: Extract<AudienceItem, { ok: true }>, channel: Channel, campaignId: string): string | null {
  const field = ADDRESS_FIELD[channel];
  if (item.entry[field] === undefined) return `${field}: required for channel ${channel}`;
  if (campaignId.length + 1 + item.entry.id.length > 256) return 'id: too long for a campaign send key';
  return null;
}

/** The send for one audience entry: keyed `campaignId:recipientId`, with the entry's template variables. */
export function campaignSend(
  item: Extract<AudienceItem, { ok: true }>,
  record: Pick<CampaignRecord, 'channel' | 'definition'>,
  campaignId: string,
): SendRequest {
  const { vars, ...to } = item.entry;
  const { definition } = record;
  return {
    idempotencyKey: `${campaignId}:${to.id}`,
    channel: record.channel,
    to,
    priority: definition.priority,
    campaignId,
    ...(definition.content !== undefined ? { content: definition.content } : {}),
    ...(definition.template !== undefined
      ? { template: { id: definition.template.id, vars: { ...definition.template.vars, ...vars } } }
      : {}),
    ...(definition.metadata !== undefined ? { metadata: definition.metadata } : {}),
  };
}
