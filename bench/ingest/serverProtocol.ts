// The IPC protocol between bench/ingest.ts and the servers it runs as child processes.
import type { GroupCommitStats } from '../../runtime/persistence/GroupCommit.ts';

/** What the parent asks of a server child. */
export type ParentRequest = { readonly type: 'stats' } | { readonly type: 'stop' };

/** Delivery figures of the service: what its channel actors have done with what was accepted. */
export type DeliveryStats = { readonly sent: number; readonly queued: number; readonly inFlight: number };

/** What a server child reports. */
export type ChildReport =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'stats'; readonly accept: GroupCommitStats; readonly delivery: DeliveryStats };
