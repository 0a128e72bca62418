import { describe, expect, it } from 'vitest';
import {
  AudienceFormatError,
  type AudienceItem,
  readAudience,
  START_OF_AUDIENCE,
  splitLines,
} from '../../actors/campaign/audience/readAudience.ts';

/** Bytes cut into chunks of `size`, so lines straddle chunk boundaries. */
function chunked(text: string, size: number): AsyncIterable<Uint8Array> {
  const bytes = Buffer.from(text);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return {
    [Symbol.asyncIterator]: () => {
      let i = 0;
      return {
        next: () =>
          Promise.resolve(
            i < chunks.length ? { done: false, value: chunks[i++] as Uint8Array } : { done: true, value: undefined },
          ),
      };
    },
  };
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const NDJSON = [
  '{"id":"u1","email":"a@example.com"}',
  '',
  '{"id":"u2","email":"b@example.com","vars":{"first":"Bé"}}',
  'not json',
  '{"id":"","email":"c@example.com"}',
  '{"id":"u3","email":"not-an-address"}',
  '{"id":"u4","email":"d@example.com"}',
].join('\n');

describe('splitLines', () => {
  it('gives each line with the byte offset after it, across chunk boundaries and CRLF', async () => {
    const text = 'ab\r\nçd\n\nlast';
    for (const size of [1, 2, 3, 100]) {
      const lines = await all(splitLines(chunked(text, size), { offset: 0, line: 0 }));
      expect(lines.map((l) => [l.text, l.number, l.end])).toEqual([
        ['ab', 1, 4],
        ['çd', 2, 8],
        ['', 3, 9],
        ['last', 4, 13],
      ]);
    }
  });

  it('reports a line over the limit once and carries on after it', async () => {
    const text = `short\n${'x'.repeat(50)}\nnext\n`;
    const lines = await all(splitLines(chunked(text, 7), { offset: 0, line: 0 }, 20));
    expect(lines.map((l) => [l.number, l.tooLong, l.text, l.end])).toEqual([
      [1, false, 'short', 6],
      [2, true, '', 57],
      [3, false, 'next', 62],
    ]);
  });
});

describe('readAudience (NDJSON)', () => {
  it('yields recipients and malformed lines with their line numbers and reasons', async () => {
    const items = await all(readAudience(chunked(NDJSON, 5), 'ndjson', START_OF_AUDIENCE));
    expect(items.map((i) => (i.ok ? `ok ${i.line} ${i.entry.id}` : `bad ${i.line}`))).toEqual([
      'ok 1 u1',
      'ok 3 u2',
      'bad 4',
      'bad 5',
      'bad 6',
      'ok 7 u4',
    ]);
    const bad = items.filter((i): i is Extract<AudienceItem, { ok: false }> => !i.ok);
    expect(bad[0]?.reason).toMatch(/^not JSON/);
    expect(bad[1]?.reason).toMatch(/^id:/);
    expect(bad[2]?.reason).toMatch(/^email:/);
    const second = items[1];
    expect(second?.ok && second.entry.vars).toEqual({ first: 'Bé' });
  });

  it('continues from a saved cursor exactly where it stopped', async () => {
    const items = await all(readAudience(chunked(NDJSON, 4), 'ndjson', START_OF_AUDIENCE));
    const cut = items[2] as AudienceItem; // after line 4
    const rest = Buffer.from(NDJSON).subarray(cut.after.offset).toString();
    const resumed = await all(readAudience(chunked(rest, 3), 'ndjson', cut.after));
    expect(resumed.map((i) => [i.ok, i.line, i.after.offset])).toEqual(
      items.slice(3).map((i) => [i.ok, i.line, i.after.offset]),
    );
  });
});

describe('readAudience (CSV)', () => {
  const CSV = [
    'id,email,first_name',
    'u1,a@example.com,Ann',
    'u2,b@example.com,"Smith, Bob"',
    'u3,c@example.com',
    'u4,d@example.com,"two',
    'lines"',
    'u5,,Eve',
    'u6,f@example.com,"bad"quote"',
  ].join('\r\n');

  it('maps columns to the recipient and the rest to vars; reports bad records', async () => {
    const items = await all(readAudience(chunked(CSV, 6), 'csv', START_OF_AUDIENCE));
    expect(
      items.map((i) => (i.ok ? `ok ${i.line} ${i.entry.id} ${JSON.stringify(i.entry.vars)}` : `bad ${i.line}`)),
    ).toEqual([
      'ok 2 u1 {"first_name":"Ann"}',
      'ok 3 u2 {"first_name":"Smith, Bob"}',
      'bad 4',
      'ok 5 u4 {"first_name":"two\\nlines"}',
      'ok 7 u5 {"first_name":"Eve"}',
      'bad 8',
    ]);
    expect((items[2] as Extract<AudienceItem, { ok: false }>).reason).toBe('2 fields where the header has 3');
    // The entry without an email is a valid recipient; the campaign decides it cannot be mailed.
    expect(items[4]?.ok && items[4].entry.email).toBeUndefined();
  });

  it('keeps the header in the cursor, so reading resumes mid-file', async () => {
    const items = await all(readAudience(chunked(CSV, 100), 'csv', START_OF_AUDIENCE));
    const cut = items[1] as AudienceItem;
    expect(cut.after.csvColumns).toEqual(['id', 'email', 'first_name']);
    const rest = Buffer.from(CSV).subarray(cut.after.offset).toString();
    const resumed = await all(readAudience(chunked(rest, 100), 'csv', cut.after));
    expect(resumed.map((i) => i.line)).toEqual([4, 5, 7, 8]);
  });

  it('refuses a header without an id column', async () => {
    await expect(all(readAudience(chunked('email\na@example.com\n', 100), 'csv', START_OF_AUDIENCE))).rejects.toThrow(
      AudienceFormatError,
    );
  });
});
