// The embedded default provider: keeps each rendered message as a JSON file in the data directory,
// where a developer (and `/ops/outbox`) can read it instead of it leaving the machine.
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OutgoingMessage, Provider, SendReceipt } from '../Provider.ts';

export type OutboxEntry = OutgoingMessage & { readonly storedAt: string };

const ID = /^[0-9a-f-]{36}$/;

export class DevOutboxProvider implements Provider {
  readonly name = 'dev-outbox';
  readonly #dir: string;
  readonly #now: () => Date;
  /** The directory, made on the first send. */
  #ready: Promise<void> | undefined;

  constructor(options: { dir: string; now?: () => Date }) {
    this.#dir = options.dir;
    this.#now = options.now ?? (() => new Date());
  }

  get directory(): string {
    return this.#dir;
  }

  async send(message: OutgoingMessage): Promise<SendReceipt> {
    this.#ready ??= mkdir(this.#dir, { recursive: true }).then(() => undefined);
    await this.#ready;
    const entry: OutboxEntry = { ...message, storedAt: this.#now().toISOString() };
    const file = path.join(this.#dir, `${message.id}.json`);
    // Written whole or not at all: a reader never sees half a message.
    await writeFile(`${file}.tmp`, `${JSON.stringify(entry, null, 2)}\n`);
    await rename(`${file}.tmp`, file);
    return { providerMessageId: message.id };
  }

  /** One stored message, or null. */
  async read(id: string): Promise<OutboxEntry | null> {
    if (!ID.test(id)) return null;
    try {
      return JSON.parse(await readFile(path.join(this.#dir, `${id}.json`), 'utf8')) as OutboxEntry;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** The newest stored messages first, at most `limit`. */
  async list(limit: number): Promise<OutboxEntry[]> {
    const files = await readdir(this.#dir).catch(() => [] as string[]);
    const dated = await Promise.all(
      files
        .filter((file) => file.endsWith('.json'))
        .map(async (file) => ({ file, mtime: (await stat(path.join(this.#dir, file))).mtimeMs })),
    );
    dated.sort((a, b) => b.mtime - a.mtime);
    const entries = await Promise.all(dated.slice(0, limit).map(({ file }) => this.read(file.replace(/\.json$/, ''))));
    return entries.filter((entry): entry is OutboxEntry => entry !== null);
  }

  async close(): Promise<void> {}
}
