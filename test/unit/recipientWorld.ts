// An in-memory stand-in for what a recipient actor reads and writes (message rows, snapshots,
// suppression lists), and a registry of recipient actors over it, for unit tests on a fake clock.
import {
  type RecipientMessage,
  type RecipientState,
  recipientBehavior,
  type TakenMessage,
} from '../../actors/recipient/RecipientActor.ts';
import type { ReplyTo } from '../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import { EntityRegistry } from '../../runtime/kernel/EntityRegistry.ts';
import { IllegalTransitionError, type MessageState } from '../../runtime/messages/messageState.ts';
import type { Channel, Priority } from '../../runtime/messages/sendRequest.ts';
import type { RecipientPolicy } from '../../runtime/policy/decidePolicy.ts';
import type { Suppression } from '../../runtime/policy/suppression.ts';
import type { Clock } from '../../runtime/time/Clock.ts';

export type Row = {
  state: MessageState;
  recipientSeq: number | null;
  channel: Channel;
  priority: Priority;
  createdAt: string;
  takenAt: number | null;
  contentHash: string | null;
  sendAt: number | null;
  timeZone: string | null;
  lastError: string | null;
};

export const NO_POLICY: RecipientPolicy = {
  frequencyCaps: {},
  dedupeWindowMs: 0,
  quietHours: null,
  defaultTimeZone: 'UTC',
};

export function world() {
  const rows = new Map<string, Row>();
  const snapshots = new Map<string, { sequence: number; state: unknown }>();
  const suppressions = new Map<string, Suppression[]>();
  const delivered: string[] = [];
  const add = (id: string, channel: Channel, createdAt: string, more: Partial<Row> = {}) =>
    rows.set(id, {
      state: 'accepted',
      recipientSeq: null,
      channel,
      priority: 'transactional',
      createdAt,
      takenAt: null,
      contentHash: `hash-${id}`,
      sendAt: null,
      timeZone: null,
      lastError: null,
      ...more,
    });
  return { rows, snapshots, suppressions, delivered, add };
}

export type World = ReturnType<typeof world>;

export function buildRecipients(
  system: ActorSystem,
  w: World,
  options: { clock: Clock; policy?: RecipientPolicy },
): EntityRegistry<RecipientState, RecipientMessage> {
  const holder: { registry?: EntityRegistry<RecipientState, RecipientMessage> } = {};
  const group = system.spawn(system.root, 'recipients', {
    kind: 'supervisor',
    init: () => null,
    receive: (s: null) => s,
  });
  const row = (id: string, to: MessageState): Row => {
    const found = w.rows.get(id);
    if (found === undefined) throw new IllegalTransitionError(id, undefined, to);
    return found;
  };
  const registry = new EntityRegistry<RecipientState, RecipientMessage>({
    system,
    parent: group,
    shards: 2,
    prefix: 'r',
    idleMs: 3_600_000,
    behavior: recipientBehavior({
      clock: options.clock,
      policy: options.policy ?? NO_POLICY,
      snapshots: {
        load: (key) => Promise.resolve(w.snapshots.get(key) ?? null),
        save: (key, sequence, state) => {
          w.snapshots.set(key, { sequence, state: structuredClone(state) });
          return Promise.resolve();
        },
      },
      facts: (id) => {
        const found = w.rows.get(id);
        return Promise.resolve(found === undefined ? null : { ...found });
      },
      take: (id, recipientSeq, takenAt) => {
        const found = row(id, 'queued');
        if (found.state !== 'accepted') throw new IllegalTransitionError(id, found.state, 'queued');
        found.state = 'queued';
        found.recipientSeq = recipientSeq;
        found.takenAt = takenAt;
        return Promise.resolve({ createdAt: found.createdAt, priority: found.priority });
      },
      suppress: (id, reason) => {
        const found = row(id, 'suppressed');
        if (found.state !== 'accepted' && found.state !== 'queued')
          throw new IllegalTransitionError(id, found.state, 'suppressed');
        found.state = 'suppressed';
        found.lastError = reason;
        return Promise.resolve();
      },
      hold: (id, until) => {
        const found = row(id, 'accepted');
        if (found.state === 'accepted') found.sendAt = until;
        return Promise.resolve();
      },
      takenAfter: (_key, afterSeq) =>
        Promise.resolve(
          [...w.rows.values()]
            .filter(
              (r): r is Row & { recipientSeq: number; takenAt: number } =>
                r.recipientSeq !== null && r.recipientSeq > afterSeq,
            )
            .sort((a, b) => a.recipientSeq - b.recipientSeq)
            .map((r): TakenMessage => ({
              recipientSeq: r.recipientSeq,
              channel: r.channel,
              priority: r.priority,
              createdAt: r.createdAt,
              takenAt: r.takenAt,
              contentHash: r.contentHash,
            })),
        ),
      suppressions: (key) => Promise.resolve([...(w.suppressions.get(key) ?? [])]),
      deliver: (_channel, id) => void w.delivered.push(id),
      registry: () => {
        if (holder.registry === undefined) throw new Error('registry not ready');
        return holder.registry;
      },
    }),
  });
  holder.registry = registry;
  return registry;
}

export const inspect = (registry: EntityRegistry<RecipientState, RecipientMessage>, key: string) =>
  registry.ask(key, (replyTo: ReplyTo<RecipientState>) => ({ type: 'inspect' as const, replyTo }), 1_000);

/** Tells the recipient to deliver a message and waits until the actor has handled it. */
export async function deliver(
  registry: EntityRegistry<RecipientState, RecipientMessage>,
  key: string,
  w: World,
  id: string,
): Promise<Row> {
  const found = w.rows.get(id);
  if (found === undefined) throw new Error(`no row ${id}`);
  registry.tell(key, { type: 'deliver', messageId: id, channel: found.channel, priority: found.priority });
  await inspect(registry, key);
  return found;
}
