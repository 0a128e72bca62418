// Child process of bench/ingest.ts: the real service (Switchboard.start, configured from the environment
// the parent hands it), which reports its port and, when asked, its acceptance and delivery figures.
import { loadConfig } from '../../runtime/config/loadConfig.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import type { ChildReport, DeliveryStats, ParentRequest } from './serverProtocol.ts';

const report = (message: ChildReport) => process.send?.(message);

const config = loadConfig(process.env);
const service = await Switchboard.start({ config, logger: createLogger({ level: config.logLevel }) });

function deliveryStats(): DeliveryStats {
  const channels = [...service.tree.channels.values()].map((channel) => channel.stats());
  const sum = (pick: (stats: (typeof channels)[number]) => number) =>
    channels.reduce((total, stats) => total + pick(stats), 0);
  return { sent: sum((s) => s.sent), queued: sum((s) => s.queued), inFlight: sum((s) => s.inFlight) };
}

process.on('message', (message: ParentRequest) => {
  switch (message.type) {
    case 'stats':
      report({ type: 'stats', accept: service.messages.acceptStats(), delivery: deliveryStats() });
      return;
    case 'stop':
      // The parent truncates the tables after each round, so there is nothing to drain; a plain exit
      // also writes the CPU profile when the child runs with --cpu-prof.
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
report({ type: 'ready', port: service.port });
