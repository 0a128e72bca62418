// A live view of the actor tree for operators: each actor's status and counters, with parents of many
// entities (shards) summarised as counts by status unless the view starts at them.
import type { ActorCell } from './ActorCell.ts';
import type { ActorStatus, GaugeValue } from './ActorRef.ts';
import type { ActorSystem } from './ActorSystem.ts';

export type ActorView = {
  readonly path: string;
  readonly name: string;
  readonly kind: string;
  readonly status: ActorStatus;
  /** Messages waiting in the mailbox (plus those held while in backoff). */
  readonly mailbox: number;
  readonly processed: number;
  readonly failures: number;
  readonly restarts: number;
  readonly lastError: string | null;
  readonly gauges?: Readonly<Record<string, GaugeValue>>;
  readonly childCount: number;
  /** Counts of children by status, for parents of many entities. */
  readonly summary?: Readonly<Record<ActorStatus, number>>;
  readonly children?: readonly ActorView[];
  /** True when more children exist than `limit` allowed listing. */
  readonly truncated?: boolean;
};

export type InspectOptions = {
  /** Where the view starts; the root when omitted. */
  readonly path?: string;
  /** Levels of children to include below the start (0: the start alone). */
  readonly depth: number;
  /** Most children listed per actor. */
  readonly limit: number;
};

/** The view of the subtree at `options.path`, or undefined when no actor lives there. */
export function inspect(system: ActorSystem, options: InspectOptions): ActorView | undefined {
  const start = options.path === undefined ? (system.root as ActorCell) : system.lookup(options.path);
  if (start === undefined) return undefined;
  return view(start, options.depth, options.limit, true);
}

function view(cell: ActorCell, depth: number, limit: number, isStart: boolean): ActorView {
  const childCount = cell.children?.size ?? 0;
  let gauges: Readonly<Record<string, GaugeValue>> | undefined;
  try {
    gauges = cell.state !== undefined ? cell.behavior.gauges?.(cell.state) : undefined;
  } catch (error) {
    gauges = { gaugeError: error instanceof Error ? error.message : String(error) };
  }
  const base = {
    path: cell.path,
    name: cell.name,
    kind: cell.kind,
    status: cell.status,
    mailbox: cell.mailbox + (cell.stash?.length ?? 0),
    processed: cell.processed,
    failures: cell.failures,
    restarts: cell.restarts,
    lastError: cell.lastError ?? null,
    ...(gauges ? { gauges } : {}),
    childCount,
    ...(cell.childCounts ? { summary: { ...cell.childCounts } } : {}),
  };
  const listChildren = depth > 0 && childCount > 0 && (cell.childCounts === undefined || isStart);
  if (!listChildren || cell.children === undefined) return base;
  const children: ActorView[] = [];
  for (const child of cell.children.values()) {
    if (children.length >= limit) break;
    children.push(view(child, depth - 1, limit, false));
  }
  return { ...base, children, ...(childCount > children.length ? { truncated: true } : {}) };
}
