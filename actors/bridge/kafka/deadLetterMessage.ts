// The dead-letter record of a send request that is not a valid send: the same key, value and headers,
// plus why it was refused and where it came from, so an operator can fix and replay it.
import type { Message } from 'kafkajs';
import type { DeadLetter } from './ingestRecords.ts';

export const DEAD_LETTER_HEADERS = {
  reason: 'x-switchboard-reason',
  sourceTopic: 'x-switchboard-source-topic',
  sourcePartition: 'x-switchboard-source-partition',
  sourceOffset: 'x-switchboard-source-offset',
} as const;

/** Longest reason kept in the header; zod can describe a large body at length. */
const MAX_REASON = 2_000;

/** Builds the record to produce to the dead-letter topic for `letter`, read from `topic`/`partition`. */
export function deadLetterMessage(letter: DeadLetter, topic: string, partition: number): Message {
  const { record, reason } = letter;
  return {
    key: record.key,
    value: record.value,
    headers: {
      ...record.headers,
      [DEAD_LETTER_HEADERS.reason]: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason,
      [DEAD_LETTER_HEADERS.sourceTopic]: topic,
      [DEAD_LETTER_HEADERS.sourcePartition]: String(partition),
      [DEAD_LETTER_HEADERS.sourceOffset]: record.offset,
    },
  };
}
