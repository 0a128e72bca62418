// Child process of bench/ingest.ts: the baseline for single sends over HTTP, a bare hono POST handler
// served by @hono/node-server that parses the JSON body and answers 202 with a fresh id.
import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { ChildReport, ParentRequest } from './serverProtocol.ts';

const report = (message: ChildReport) => process.send?.(message);

const app = new Hono().post('/v1/messages', async (c) => {
  await c.req.json();
  return c.json({ id: randomUUID(), status: 'accepted' }, 202);
});

// Listens like the service does (no hostname), so both are reached the same way.
serve({ fetch: app.fetch, port: 0 }, (info) => report({ type: 'ready', port: info.port }));

process.on('message', (message: ParentRequest) => {
  if (message.type === 'stop') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
