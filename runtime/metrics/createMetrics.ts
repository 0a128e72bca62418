// Prometheus metrics (prom-client) in a registry of the service's own: actor counts by kind and
// status, restarts, dead letters, escalations, mailbox depth, entity activity and message outcomes.
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ActorCell } from '../kernel/ActorCell.ts';
import type { ActorSystem } from '../kernel/ActorSystem.ts';
import type { EntityRegistryStats } from '../kernel/EntityRegistry.ts';

export type MetricsSources = {
  readonly system: ActorSystem;
  /** Entity registries by name (`recipients`). */
  readonly registries: ReadonlyMap<string, () => EntityRegistryStats>;
  /** Provider connections with their breaker state. */
  readonly providers: () => ReadonlyArray<{
    channel: string;
    provider: string;
    breaker: 'closed' | 'halfOpen' | 'open';
    inFlight: number;
  }>;
};

export type Metrics = {
  readonly registry: Registry;
  /** Counts one message reaching an outcome on a channel. */
  recordOutcome(channel: string, outcome: string): void;
  /** Counts a message sent again after it was found in `sending` (the provider may have it twice). */
  recordPossibleDuplicate(channel: string): void;
  /** Counts one HTTP request by route and status. */
  recordRequest(method: string, route: string, status: number): void;
};

/** Moves a counter up to `value`, a running total kept elsewhere. */
function syncCounter(
  counter: Counter<string>,
  labels: Record<string, string>,
  value: number,
  seen: Map<string, number>,
): void {
  const key = JSON.stringify(labels);
  const delta = value - (seen.get(key) ?? 0);
  if (delta > 0) counter.inc(labels, delta);
  seen.set(key, value);
}

export function createMetrics(sources: MetricsSources): Metrics {
  const { system } = sources;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchboard_process_' });

  new Gauge({
    name: 'switchboard_actors',
    help: 'Live actors by kind and status',
    labelNames: ['kind', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const row of system.counts()) this.set({ kind: row.kind, status: row.status }, row.count);
    },
  });

  const restartsSeen = new Map<string, number>();
  new Counter({
    name: 'switchboard_actor_restarts_total',
    help: 'Actor restarts by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      for (const [kind, count] of system.restartsByKind()) syncCounter(this, { kind }, count, restartsSeen);
    },
  });

  const deadSeen = new Map<string, number>();
  new Counter({
    name: 'switchboard_dead_letters_total',
    help: 'Messages no actor could take, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, count] of Object.entries(system.deadLetters.counts()))
        syncCounter(this, { reason }, count, deadSeen);
    },
  });

  const escalationsSeen = new Map<string, number>();
  new Counter({
    name: 'switchboard_escalations_total',
    help: 'Failures escalated from a child to its parent',
    registers: [registry],
    collect() {
      syncCounter(this, {}, system.escalationCount, escalationsSeen);
    },
  });

  new Gauge({
    name: 'switchboard_degraded',
    help: '1 when a failure has escalated to the root since start',
    registers: [registry],
    collect() {
      this.set(system.rootEscalations().length > 0 ? 1 : 0);
    },
  });

  const stopHookSeen = new Map<string, number>();
  new Counter({
    name: 'switchboard_stop_hook_failures_total',
    help: 'Actor stop hooks (state flushes) that failed',
    registers: [registry],
    collect() {
      syncCounter(this, {}, system.stopHookFailures, stopHookSeen);
    },
  });

  new Gauge({
    name: 'switchboard_actor_mailbox_depth',
    help: 'Messages waiting per actor (entities are summed per kind, under their shard parent path)',
    labelNames: ['path', 'kind'],
    registers: [registry],
    collect() {
      this.reset();
      const walk = (cell: ActorCell) => {
        const children = cell.children?.values() ?? [];
        if (cell.childCounts !== undefined) {
          let total = 0;
          for (const child of children) total += child.mailbox + (child.stash?.length ?? 0);
          this.set({ path: `${cell.path}/*`, kind: 'entity' }, total);
          return;
        }
        this.set({ path: cell.path, kind: cell.kind }, cell.mailbox + (cell.stash?.length ?? 0));
        for (const child of children) walk(child);
      };
      walk(system.root as ActorCell);
    },
  });

  new Gauge({
    name: 'switchboard_entities_live',
    help: 'Entities in memory by registry',
    labelNames: ['registry'],
    registers: [registry],
    collect() {
      for (const [name, stats] of sources.registries) this.set({ registry: name }, stats().live);
    },
  });

  const activationsSeen = new Map<string, number>();
  new Counter({
    name: 'switchboard_entity_activations_total',
    help: 'Entities activated by registry',
    labelNames: ['registry'],
    registers: [registry],
    collect() {
      for (const [name, stats] of sources.registries)
        syncCounter(this, { registry: name }, stats().activations, activationsSeen);
    },
  });

  const passivationsSeen = new Map<string, number>();
  new Counter({
    name: 'switchboard_entity_passivations_total',
    help: 'Entities passivated by registry',
    labelNames: ['registry'],
    registers: [registry],
    collect() {
      for (const [name, stats] of sources.registries)
        syncCounter(this, { registry: name }, stats().passivations, passivationsSeen);
    },
  });

  new Gauge({
    name: 'switchboard_provider_breaker_state',
    help: 'Circuit breaker of each provider connection: 0 closed, 1 half-open, 2 open',
    labelNames: ['channel', 'provider'],
    registers: [registry],
    collect() {
      this.reset();
      const code = { closed: 0, halfOpen: 1, open: 2 } as const;
      for (const p of sources.providers()) this.set({ channel: p.channel, provider: p.provider }, code[p.breaker]);
    },
  });

  new Gauge({
    name: 'switchboard_provider_in_flight',
    help: 'Sends in flight per provider connection',
    labelNames: ['channel', 'provider'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of sources.providers()) this.set({ channel: p.channel, provider: p.provider }, p.inFlight);
    },
  });

  const outcomes = new Counter({
    name: 'switchboard_delivery_outcomes_total',
    help: 'Delivery attempts by channel and outcome',
    labelNames: ['channel', 'outcome'],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'switchboard_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });

  const possibleDuplicates = new Counter({
    name: 'switchboard_possible_duplicates_total',
    help: 'Messages sent again after an interrupted attempt, by channel',
    labelNames: ['channel'],
    registers: [registry],
  });

  return {
    registry,
    recordPossibleDuplicate: (channel) => possibleDuplicates.inc({ channel }),
    recordOutcome: (channel, outcome) => outcomes.inc({ channel, outcome }),
    recordRequest: (method, route, status) => requests.inc({ method, route, status: String(status) }),
  };
}
