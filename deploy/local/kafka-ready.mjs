// Readiness probe for the local Kafka: exits 0 when a broker answers a metadata request
// (kafkajs admin describeCluster), 1 otherwise. Used by deploy/local/kafka.sh.
//
// Usage: node deploy/local/kafka-ready.mjs [host:port[,host:port...]] [--verbose]
// Default broker: $KAFKA_BROKERS or 127.0.0.1:9092.
import { Kafka, logLevel } from 'kafkajs';

const args = process.argv.slice(2);
const verbose = args.includes('--verbose');
const brokerArg = args.find((a) => !a.startsWith('--'));
const brokers = (brokerArg ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:9092')
  .split(',')
  .map((b) => b.trim())
  .filter((b) => b.length > 0);

// A hard ceiling so a half-open socket can never hang the caller's polling loop.
const deadline = setTimeout(() => {
  if (verbose) console.error('kafka-ready: timed out');
  process.exit(1);
}, 8000);
deadline.unref();

const kafka = new Kafka({
  clientId: 'switchboard-kafka-ready',
  brokers,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 2000,
  requestTimeout: 4000,
  retry: { retries: 0 },
});
const admin = kafka.admin({ retry: { retries: 0 } });

try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  if (verbose) {
    console.log(
      `kafka-ready: cluster ${cluster.clusterId}, controller ${cluster.controller}, ` +
        `brokers ${cluster.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).join(',')}`,
    );
  }
  await admin.disconnect();
  process.exit(0);
} catch (error) {
  if (verbose) console.error(`kafka-ready: ${error instanceof Error ? error.message : String(error)}`);
  await admin.disconnect().catch(() => {});
  process.exit(1);
}
