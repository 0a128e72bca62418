// A provider that takes every message and keeps nothing but counts: for load tests and dry runs of
// a campaign, where the path through switchboard is what is measured and nothing may leave.
import type { OutgoingMessage, Provider, SendReceipt } from '../Provider.ts';

export class SinkProvider implements Provider {
  readonly name: string;
  #sent = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** Messages taken so far. */
  get sent(): number {
    return this.#sent;
  }

  send(message: OutgoingMessage): Promise<SendReceipt> {
    this.#sent++;
    return Promise.resolve({ providerMessageId: message.id });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
