// What `GET /v1/campaigns/{id}` answers: the campaign, its counts (targeted from its audience, the
// rest from its messages' states), how far its audience has been read, and an ETA.
import type { MessageState } from '../../runtime/messages/messageState.ts';
import type { Channel } from '../../runtime/messages/sendRequest.ts';
import { type AudienceFormat, describeAudience } from './campaignDefinition.ts';
import type { CampaignRecord, CampaignStatus, MalformedLine } from './CampaignStore.ts';

export type CampaignCounts = {
  /** Valid recipients read from the audience so far (all of them once `audience.complete`). */
  readonly targeted: number;
  /** Sends accepted (durably written) for the campaign. */
  readonly accepted: number;
  /** Sent, or delivered where the provider reports it. */
  readonly sent: number;
  /** Failed permanently, or dead after the last retry. */
  readonly failed: number;
  readonly suppressed: number;
  /** Not finished yet: sends accepted and unfinished, plus recipients not yet read (estimated from the bytes left). */
  readonly remaining: number;
  /** Audience lines that were not a valid recipient. */
  readonly malformed: number;
};

export type CampaignView = {
  readonly id: string;
  readonly name: string;
  readonly status: CampaignStatus;
  readonly channel: Channel;
  readonly priority: string;
  readonly ratePerSecond: number | null;
  readonly startAt: string | null;
  readonly audience: {
    readonly source: string;
    readonly format: AudienceFormat | 'inline';
    /** Bytes of the S3 object (entries of an inline list), and how many have been read. */
    readonly size: number | null;
    readonly read: number;
    readonly linesRead: number;
    readonly complete: boolean;
  };
  readonly counts: CampaignCounts;
  readonly malformedLines: readonly MalformedLine[];
  /** Every send finished (the audience read in full and nothing left in flight). */
  readonly done: boolean;
  /** When the last send is expected to finish at the current pace; null when paused, waiting or done. */
  readonly eta: string | null;
  readonly etaSeconds: number | null;
  readonly error: string | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
};

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function campaignView(
  record: CampaignRecord,
  byState: Partial<Record<MessageState, number>>,
  now: number,
): CampaignView {
  const n = (state: MessageState) => byState[state] ?? 0;
  const accepted = Object.values(byState).reduce((sum, count) => sum + (count ?? 0), 0);
  const sent = n('sent') + n('delivered');
  const failed = n('failed') + n('dead');
  const suppressed = n('suppressed');
  const finishedSends = sent + failed + suppressed;
  const source = record.definition.audience;
  const size = record.audienceBytes;
  const complete =
    record.status === 'completed' || (size !== null && record.cursor.offset >= size && record.status !== 'draft');
  // While reading, the recipients still unread are estimated from the share of bytes read so far.
  const unread =
    complete || record.status === 'cancelled' || record.status === 'failed'
      ? 0
      : size === null || size === 0
        ? 0
        : record.cursor.offset === 0
          ? source.kind === 'inline'
            ? size
            : 0
          : Math.round((record.targeted * (size - record.cursor.offset)) / record.cursor.offset);
  const remaining = Math.max(0, accepted - finishedSends) + unread;

  let etaSeconds: number | null = null;
  if (remaining > 0 && record.status === 'running' && record.startedAt !== null) {
    const elapsed = Math.max(1, (now - record.startedAt) / 1000);
    const observed = finishedSends / elapsed;
    const rate =
      record.definition.ratePerSecond === null
        ? observed
        : observed > 0
          ? Math.min(observed, record.definition.ratePerSecond)
          : record.definition.ratePerSecond;
    if (rate > 0) etaSeconds = Math.ceil(remaining / rate);
  }
  return {
    id: record.id,
    name: record.name,
    status: record.status,
    channel: record.channel,
    priority: record.definition.priority,
    ratePerSecond: record.definition.ratePerSecond,
    startAt: record.definition.startAt,
    audience: {
      source: describeAudience(source),
      format: source.kind === 'inline' ? 'inline' : source.format,
      size,
      read: record.cursor.offset,
      linesRead: record.cursor.line,
      complete,
    },
    counts: {
      targeted: record.targeted,
      accepted,
      sent,
      failed,
      suppressed,
      remaining,
      malformed: record.malformed,
    },
    malformedLines: record.malformedLines,
    done: record.status === 'completed' && remaining === 0,
    eta: etaSeconds === null ? null : new Date(now + etaSeconds * 1000).toISOString(),
    etaSeconds,
    error: record.error,
    createdAt: new Date(record.createdAt).toISOString(),
    startedAt: iso(record.startedAt),
    finishedAt: iso(record.finishedAt),
  };
}
