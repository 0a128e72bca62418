// Reads an audience as a stream of recipients, each with the cursor just past it, so a campaign can
// stop anywhere and continue from that byte offset later (a ranged read of the same object). Bytes
// are split into lines here (we need each line's byte length); NDJSON lines are parsed as JSON, CSV
// lines by csv-parse against the header row. A line that is not a valid recipient is reported with
// its line number and the reason, and reading goes on.
import { parse as parseCsv } from 'csv-parse/sync';
import { describeIssues } from '../../../runtime/messages/sendRequest.ts';
import { type AudienceEntry, audienceEntrySchema, type AudienceFormat } from '../campaignDefinition.ts';

/** Where reading stands: bytes consumed, lines consumed, and the CSV header once it has been read. */
export type AudienceCursor = {
  readonly offset: number;
  readonly line: number;
  readonly csvColumns: readonly string[] | null;
};

export const START_OF_AUDIENCE: AudienceCursor = { offset: 0, line: 0, csvColumns: null };

export type AudienceItem =
  | { readonly ok: true; readonly line: number; readonly after: AudienceCursor; readonly entry: AudienceEntry }
  | { readonly ok: false; readonly line: number; readonly after: AudienceCursor; readonly reason: string };

/** An audience that cannot be read at all (as opposed to a malformed line in it). */
export class AudienceFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AudienceFormatError';
  }
}

/** Longest line taken; a longer one is reported malformed and skipped. */
export const MAX_LINE_BYTES = 1024 * 1024;
const TO_FIELDS = new Set(['id', 'email', 'phone', 'pushTarget', 'url', 'timeZone']);

type OpenRecord = { readonly text: string; readonly line: number; readonly lines: number };

type Line = { readonly text: string; readonly number: number; readonly end: number; readonly tooLong: boolean };

/** Splits bytes into lines (LF or CRLF) with the byte offset after each, starting at `from`. */
export async function* splitLines(
  chunks: AsyncIterable<Uint8Array>,
  from: { readonly offset: number; readonly line: number },
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<Line> {
  let offset = from.offset;
  let number = from.line;
  let pending: Buffer | null = null;
  let skipping = false;
  for await (const chunk of chunks) {
    const buffer: Buffer = pending === null ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
    pending = null;
    let start = 0;
    for (let newline = buffer.indexOf(10, start); newline !== -1; newline = buffer.indexOf(10, start)) {
      number++;
      offset += newline - start + 1;
      if (skipping || newline - start > maxLineBytes) {
        skipping = false;
        yield { text: '', number, end: offset, tooLong: true };
      } else {
        const stop = newline > start && buffer[newline - 1] === 13 ? newline - 1 : newline;
        yield { text: buffer.toString('utf8', start, stop), number, end: offset, tooLong: false };
      }
      start = newline + 1;
    }
    if (start < buffer.length) {
      if (skipping || buffer.length - start > maxLineBytes) {
        // Count the skipped bytes now; the line is reported once its end is found.
        offset += buffer.length - start;
        skipping = true;
      } else pending = buffer.subarray(start);
    }
  }
  if (skipping) yield { text: '', number: number + 1, end: offset, tooLong: true };
  else if (pending !== null && pending.length > 0) {
    const text = pending.toString('utf8').replace(/\r$/, '');
    yield { text, number: number + 1, end: offset + pending.length, tooLong: false };
  }
}

/** Reads recipients from NDJSON or CSV bytes that start at `from`. */
export async function* readAudience(
  chunks: AsyncIterable<Uint8Array>,
  format: AudienceFormat,
  from: AudienceCursor,
): AsyncGenerator<AudienceItem> {
  let columns = from.csvColumns;
  // A CSV record whose quoted field spans lines: its lines so far and where it began.
  let open: OpenRecord | null = null;
  let last = { end: from.offset, number: from.line };
  for await (const line of splitLines(chunks, from)) {
    last = line;
    const after = (): AudienceCursor => ({ offset: line.end, line: line.number, csvColumns: columns });
    if (line.tooLong) {
      open = null;
      yield { ok: false, line: line.number, after: after(), reason: `line longer than ${MAX_LINE_BYTES} bytes` };
      continue;
    }
    if (format === 'ndjson') {
      if (line.text.trim() === '') continue;
      yield fromNdjson(line.text, line.number, after());
      continue;
    }
    const held: OpenRecord | null = open;
    const text: string = held === null ? line.text : `${held.text}\n${line.text}`;
    const first: number = held === null ? line.number : held.line;
    const lines: number = held === null ? 1 : held.lines + 1;
    if (held === null && text.trim() === '') continue;
    const parsed = parseCsvLine(text);
    open = null;
    if (parsed.kind === 'unclosed') {
      if (lines < 100 && text.length < MAX_LINE_BYTES) open = { text, line: first, lines };
      else yield { ok: false, line: first, after: after(), reason: 'quoted field not closed within 100 lines' };
      continue;
    }
    if (parsed.kind === 'invalid') {
      yield { ok: false, line: first, after: after(), reason: parsed.reason };
      continue;
    }
    if (columns === null) {
      columns = parsed.fields.map((field) => field.trim());
      if (!columns.includes('id')) {
        throw new AudienceFormatError(`the CSV header (line ${first}) has no "id" column: ${columns.join(',')}`);
      }
      continue;
    }
    yield fromCsv(parsed.fields, columns, first, after());
  }
  if (open !== null) {
    yield {
      ok: false,
      line: open.line,
      after: { offset: last.end, line: last.number, csvColumns: columns },
      reason: 'quoted field not closed before the end of the audience',
    };
  }
}

function fromNdjson(text: string, line: number, after: AudienceCursor): AudienceItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, line, after, reason: `not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  return validated(value, line, after);
}

function fromCsv(
  fields: readonly string[],
  columns: readonly string[],
  line: number,
  after: AudienceCursor,
): AudienceItem {
  if (fields.length !== columns.length) {
    return { ok: false, line, after, reason: `${fields.length} fields where the header has ${columns.length}` };
  }
  const entry: Record<string, unknown> = {};
  const vars: Record<string, string> = {};
  columns.forEach((column, i) => {
    const value = fields[i] ?? '';
    if (TO_FIELDS.has(column)) {
      if (value !== '') entry[column] = value;
    } else if (column !== '') vars[column] = value;
  });
  if (Object.keys(vars).length > 0) entry['vars'] = vars;
  return validated(entry, line, after);
}

function validated(value: unknown, line: number, after: AudienceCursor): AudienceItem {
  const parsed = audienceEntrySchema.safeParse(value);
  if (parsed.success) return { ok: true, line, after, entry: parsed.data };
  const reason = describeIssues(parsed.error)
    .map((issue) => `${issue.path}: ${issue.message}`)
    .join('; ');
  return { ok: false, line, after, reason };
}

type CsvLine =
  | { readonly kind: 'ok'; readonly fields: string[] }
  | { readonly kind: 'unclosed' }
  | { readonly kind: 'invalid'; readonly reason: string };

function parseCsvLine(text: string): CsvLine {
  try {
    const records: string[][] = parseCsv(text, { relax_column_count: true });
    if (records.length !== 1) return { kind: 'invalid', reason: `expected one CSV record, found ${records.length}` };
    return { kind: 'ok', fields: records[0] as string[] };
  } catch (error) {
    if ((error as { code?: string }).code === 'CSV_QUOTE_NOT_CLOSED') return { kind: 'unclosed' };
    return { kind: 'invalid', reason: `not CSV: ${error instanceof Error ? error.message : String(error)}` };
  }
}
