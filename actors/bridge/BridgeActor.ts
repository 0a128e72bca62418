// A bridge to a broker as an actor under /switchboard/bridges: its connection is its state, opened by
// init and closed by its stop hook. A lost connection is reported to the actor as a failure, so the
// kernel restarts it with backoff (a reconnect) and no bridge reconnects on its own.
import type { ActorRef, AnyActorRef, GaugeValue } from '../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import { restartWithBackoff } from '../../supervisors/SupervisionStrategy.ts';

/** A running connection to a broker, as a bridge opens it. */
export interface BridgeConnection {
  /** Live figures: connection state, lag, counts. */
  stats(): Readonly<Record<string, GaugeValue>>;
  /** Stops consuming or publishing, waits for work in hand, closes the connection. Idempotent. */
  close(): Promise<void>;
}

/** Opens a connection; `fail` is called (once) when it breaks later, to have it reopened. */
export type BridgeConnector = (fail: (error: Error) => void) => Promise<BridgeConnection>;

type BridgeMessage = { readonly type: 'connection-lost'; readonly error: Error; readonly connection: BridgeConnection };

export class ConnectionLostError extends Error {
  constructor(bridge: string, cause: Error) {
    super(`${bridge}: connection lost (${cause.message}); reconnecting`, { cause });
    this.name = 'ConnectionLostError';
  }
}

/** Spawns a bridge under `parent` (the `bridges` supervisor). */
export function spawnBridge(
  system: ActorSystem,
  parent: AnyActorRef,
  name: string,
  connect: BridgeConnector,
): ActorRef<BridgeMessage> {
  // The connector's failure callback needs the actor's own reference, which exists once spawned.
  const holder: { self?: ActorRef<BridgeMessage> } = {};
  const self = system.spawn<BridgeConnection, BridgeMessage>(
    parent,
    name,
    {
      kind: 'bridge',
      init: async () => {
        // A failure may be reported while the connector is still opening: it is held until the
        // connection exists, then reported like any other (once).
        const opened: { connection?: BridgeConnection } = {};
        let lost: Error | undefined;
        let reported = false;
        const report = () => {
          if (reported || lost === undefined || opened.connection === undefined || holder.self === undefined) return;
          reported = true;
          system.dispatch(holder.self, { type: 'connection-lost', error: lost, connection: opened.connection });
        };
        const connection = await connect((error) => {
          lost ??= error;
          report();
        });
        opened.connection = connection;
        report();
        return connection;
      },
      async receive(state, message) {
        // A report from an earlier connection (already replaced) changes nothing.
        if (message.connection !== state) return state;
        await state.close().catch(() => {});
        throw new ConnectionLostError(name, message.error);
      },
      onStop: (state) => state.close(),
      gauges: (state) => state.stats(),
    },
    {
      supervision: restartWithBackoff({
        backoff: { minMs: 500, maxMs: 30_000 },
        // A broker may be down for long: keep reconnecting rather than escalate.
        intensity: { maxRestarts: Number.MAX_SAFE_INTEGER, withinMs: 60_000 },
      }),
    },
  );
  holder.self = self;
  return self;
}
