// `switchboard campaign …`: creates, lists, inspects, starts, pauses, resumes, cancels and watches
// campaigns on a running service through its HTTP API (/v1/campaigns). Every failure becomes a
// CampaignCliError: one readable line saying what to do next, with exit code 1 (the service or the
// network) or 2 (the command line itself).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import cliProgress from 'cli-progress';
import type { CampaignView } from '../actors/campaign/campaignView.ts';
import { CHANNELS } from '../runtime/messages/sendRequest.ts';

export const CAMPAIGN_USAGE = `usage: switchboard campaign <command> [options]

commands:
  create --name N --channel email|sms|push|webhook --audience s3://bucket/key
         [--format ndjson|csv] [--subject S] [--text T] [--html H]
         [--template ID] [--vars JSON] [--rate N] [--start-at ISO] [--id ID] [--start]
         [--file spec.json]      a JSON body for POST /v1/campaigns; flags override it
  list                           campaigns, newest first
  status <id>                    status, counts, audience progress, ETA, malformed lines
  watch <id> [--interval MS]     live progress until the campaign is done (default every 1000 ms)
  start|pause|resume|cancel <id>

options:
  --url URL         the service (default $SWITCHBOARD_URL, else http://127.0.0.1:$PORT, PORT default 8080)
  --api-key KEY     default $SWITCHBOARD_API_KEY, else the first of $SWITCHBOARD_API_KEYS,
                    else the file $SWITCHBOARD_DATA_DIR/api-key (default ./.switchboard/api-key)
  --json            print the service's JSON answer instead of text`;

/** A failure to report as one line on standard error; exit code 2 for a command-line mistake, else 1. */
export class CampaignCliError extends Error {
  readonly exitCode: 1 | 2;
  /** A network failure or 503 that a poll loop may wait out. */
  readonly retryable: boolean;
  constructor(message: string, exitCode: 1 | 2 = 1, retryable = false) {
    super(message);
    this.name = 'CampaignCliError';
    this.exitCode = exitCode;
    this.retryable = retryable;
  }
}

const usageError = (message: string) => new CampaignCliError(`${message} (see: switchboard campaign help)`, 2);

const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

const CREATE_OPTIONS = {
  ...CONNECTION_OPTIONS,
  file: { type: 'string' },
  id: { type: 'string' },
  name: { type: 'string' },
  channel: { type: 'string' },
  audience: { type: 'string' },
  format: { type: 'string' },
  subject: { type: 'string' },
  text: { type: 'string' },
  html: { type: 'string' },
  template: { type: 'string' },
  vars: { type: 'string' },
  rate: { type: 'string' },
  'start-at': { type: 'string' },
  start: { type: 'boolean' },
} as const satisfies ParseArgsOptionsConfig;

const WATCH_OPTIONS = {
  ...CONNECTION_OPTIONS,
  interval: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

const ACTIONS = ['start', 'pause', 'resume', 'cancel'] as const;
type Action = (typeof ACTIONS)[number];
const COMMANDS = ['create', 'list', 'status', 'watch', ...ACTIONS] as const;

const AUDIENCE_FORMATS = ['ndjson', 'csv'] as const;

/** How long one HTTP request may take before the service is reported as not answering. */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long `watch` waits out a lost connection (after its first successful poll) before giving up. */
const WATCH_RECONNECT_MS = 30_000;

type CampaignSummary = { id: string; name: string; status: string; channel: string; createdAt: string };

type ProblemDocument = { type?: string; title?: string; status?: number; detail?: string };

/** Where the service is and the key to present; `shownUrl` is safe to print. */
type Connection = { readonly baseUrl: URL; readonly shownUrl: string; readonly apiKey: string };

/** The options of `campaign <command>`; a mistake in them is a usage error naming the command. */
function parse<T extends ParseArgsOptionsConfig>(command: string, args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    if (!(error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      throw error;
    }
    const unknown = error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(-[^']*)'/.exec(error.message)?.[1] : undefined;
    throw usageError(
      unknown === undefined
        ? `campaign ${command}: ${error.message.replace(/\s*\n\s*/g, ' ')}`
        : `campaign ${command} has no option ${unknown}`,
    );
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

/** The service URL and API key from the flags, else the environment, else the local defaults. */
export function resolveConnection(
  flags: { url?: string | undefined; 'api-key'?: string | undefined },
  env: NodeJS.ProcessEnv,
): Connection {
  const rawUrl =
    nonEmpty(flags.url) ?? nonEmpty(env.SWITCHBOARD_URL) ?? `http://127.0.0.1:${nonEmpty(env.PORT) ?? '8080'}`;
  let baseUrl: URL;
  try {
    baseUrl = new URL(rawUrl);
  } catch {
    const shown = rawUrl.includes('@') ? 'the service URL' : JSON.stringify(rawUrl);
    throw usageError(`${shown} is not a URL; set --url or SWITCHBOARD_URL like http://127.0.0.1:8080`);
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') {
    throw usageError(`the service URL must start with http:// or https://, not ${baseUrl.protocol}//`);
  }
  if (baseUrl.username !== '' || baseUrl.password !== '') {
    throw usageError('the service URL must not carry credentials; pass the API key with --api-key');
  }
  baseUrl.search = '';
  baseUrl.hash = '';
  if (!baseUrl.pathname.endsWith('/')) baseUrl.pathname += '/';
  const shownUrl = `${baseUrl.origin}${baseUrl.pathname.replace(/\/$/, '')}`;

  const dataDir = nonEmpty(env.SWITCHBOARD_DATA_DIR) ?? './.switchboard';
  const keyFile = path.join(dataDir, 'api-key');
  const apiKey =
    nonEmpty(flags['api-key']) ??
    nonEmpty(env.SWITCHBOARD_API_KEY) ??
    nonEmpty(env.SWITCHBOARD_API_KEYS?.split(',')[0]) ??
    readKeyFile(keyFile);
  if (apiKey === undefined) {
    throw new CampaignCliError(
      `no API key: set --api-key or SWITCHBOARD_API_KEY (a service started without keys writes one to ${keyFile})`,
      2,
    );
  }
  return { baseUrl, shownUrl, apiKey };
}

function readKeyFile(file: string): string | undefined {
  try {
    return nonEmpty(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** One call to the API: the parsed JSON of a 2xx answer, else a CampaignCliError built from the problem. */
async function callApi<T>(connection: Connection, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const url = new URL(`v1/${route}`, connection.baseUrl);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${connection.apiKey}`,
        accept: 'application/json, application/problem+json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    throw unreachable(connection, error);
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw unreachable(connection, error);
  }
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok) {
    if (parsed === undefined) {
      throw new CampaignCliError(
        `${connection.shownUrl} answered ${method} /v1/${route} with something other than JSON; is --url (or SWITCHBOARD_URL) pointing at switchboard?`,
      );
    }
    return parsed as T;
  }
  throw problemError(connection, response, parsed);
}

function unreachable(connection: Connection, error: unknown): CampaignCliError {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new CampaignCliError(
      `no answer from ${connection.shownUrl} within ${REQUEST_TIMEOUT_MS / 1000}s; is the service overloaded? retry, or set --url or SWITCHBOARD_URL`,
      1,
      true,
    );
  }
  const cause = error instanceof Error ? error.cause : undefined;
  const reason =
    cause instanceof Error
      ? ((cause as NodeJS.ErrnoException).code ?? cause.message)
      : error instanceof Error
        ? error.message
        : String(error);
  return new CampaignCliError(
    `cannot reach ${connection.shownUrl} (${reason}); is the service running? set --url or SWITCHBOARD_URL`,
    1,
    true,
  );
}

function problemError(connection: Connection, response: Response, body: unknown): CampaignCliError {
  const problem = typeof body === 'object' && body !== null ? (body as ProblemDocument) : undefined;
  const detail = problem?.detail ?? problem?.title;
  if (detail === undefined) {
    return new CampaignCliError(
      `${connection.shownUrl} answered ${response.status} ${response.statusText}; is --url (or SWITCHBOARD_URL) pointing at switchboard?`,
      1,
      response.status === 502 || response.status === 503 || response.status === 504,
    );
  }
  switch (response.status) {
    case 401:
      return new CampaignCliError(`${detail}; set --api-key or SWITCHBOARD_API_KEY to a key of this service`);
    case 404:
      return new CampaignCliError(
        problem?.type?.endsWith('/campaign-not-found') ? `${detail}; see: switchboard campaign list` : detail,
      );
    case 503:
      return new CampaignCliError(/retry/i.test(detail) ? detail : `${detail}; retry later`, 1, true);
    default:
      return new CampaignCliError(detail);
  }
}

const number = new Intl.NumberFormat('en-US');
const count = (value: number) => number.format(value);

/** 75 → "1m 15s", 3725 → "1h 02m". */
function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h ${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}

function write(line: string): void {
  process.stdout.write(`${line}\n`);
}

function help(): number {
  write(CAMPAIGN_USAGE);
  return 0;
}

function writeJson(value: unknown): void {
  write(JSON.stringify(value, null, 2));
}

/** Sends that have finished one way or another. */
const finished = (view: CampaignView) => view.counts.sent + view.counts.failed + view.counts.suppressed;

function statusLine(view: CampaignView): string {
  const { counts } = view;
  return `campaign ${view.id} is ${view.status}: ${count(counts.sent)} of ${count(counts.targeted)} targeted sent`;
}

function audienceProgress(view: CampaignView): string {
  const { audience } = view;
  const unit = audience.format === 'inline' ? 'entries' : 'bytes';
  const percent = audience.complete
    ? 100
    : audience.size === null || audience.size === 0
      ? null
      : Math.min(100, Math.floor((audience.read / audience.size) * 100));
  const progress =
    percent === null
      ? `${count(audience.read)} ${unit} read (size unknown)`
      : `${percent}% read (${count(audience.read)} of ${count(audience.size ?? audience.read)} ${unit})`;
  const source = audience.format === 'inline' ? audience.source : `${audience.source} (${audience.format})`;
  return `${source}: ${progress}, ${count(audience.linesRead)} lines${audience.complete ? ', complete' : ''}`;
}

function etaText(view: CampaignView): string {
  if (view.done) return 'done';
  if (view.etaSeconds !== null) return `${formatDuration(view.etaSeconds)} (at ${view.eta ?? '?'})`;
  if (view.status === 'paused') return 'none while paused';
  if (view.status === 'draft') return 'none until started';
  if (view.status === 'scheduled') return `starts at ${view.startAt ?? '?'}`;
  return 'unknown yet';
}

const MALFORMED_LINES_SHOWN = 5;

/** The readable summary `campaign status` prints. */
export function describeCampaign(view: CampaignView): string {
  const { counts } = view;
  const rows: Array<[string, string]> = [
    ['status', `${view.status}${view.done ? ' (done)' : ''}`],
    [
      'channel',
      `${view.channel}, ${view.priority}${view.ratePerSecond === null ? '' : `, at most ${view.ratePerSecond}/s`}`,
    ],
    ['audience', audienceProgress(view)],
    [
      'counts',
      `${count(counts.targeted)} targeted, ${count(counts.accepted)} accepted, ${count(counts.sent)} sent, ` +
        `${count(counts.failed)} failed, ${count(counts.suppressed)} suppressed, ${count(counts.remaining)} remaining, ` +
        `${count(counts.malformed)} malformed`,
    ],
    ['eta', etaText(view)],
    ['created', view.createdAt],
  ];
  if (view.startAt !== null) rows.push(['start at', view.startAt]);
  if (view.startedAt !== null) rows.push(['started', view.startedAt]);
  if (view.finishedAt !== null) rows.push(['finished', view.finishedAt]);
  if (view.error !== null) rows.push(['error', view.error]);
  const lines = [
    `campaign ${view.id} "${view.name}"`,
    ...rows.map(([label, value]) => `  ${label.padEnd(9)} ${value}`),
  ];
  if (view.malformedLines.length > 0) {
    const shown = view.malformedLines.slice(0, MALFORMED_LINES_SHOWN);
    lines.push(`  malformed lines (first ${shown.length} of ${count(counts.malformed)}):`);
    for (const malformed of shown) lines.push(`    line ${malformed.line}: ${malformed.reason}`);
  }
  return lines.join('\n');
}

/** The POST /v1/campaigns body: the --file spec (if any) with the flags laid over it. */
async function createBody(flags: ReturnType<typeof parse<typeof CREATE_OPTIONS>>['values']) {
  let body: Record<string, unknown> = {};
  if (flags.file !== undefined) {
    let text: string;
    try {
      text = await readFile(flags.file, 'utf8');
    } catch (error) {
      throw usageError(`cannot read --file ${flags.file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    let spec: unknown;
    try {
      spec = JSON.parse(text);
    } catch (error) {
      throw usageError(`--file ${flags.file} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      throw usageError(`--file ${flags.file} must hold a JSON object (the body of POST /v1/campaigns)`);
    }
    body = { ...(spec as Record<string, unknown>) };
  }

  if (flags.id !== undefined) body.id = flags.id;
  if (flags.name !== undefined) body.name = flags.name;
  if (flags.channel !== undefined) {
    if (!(CHANNELS as readonly string[]).includes(flags.channel)) {
      throw usageError(`--channel must be one of ${CHANNELS.join(', ')}, not ${JSON.stringify(flags.channel)}`);
    }
    body.channel = flags.channel;
  }
  if (flags.audience !== undefined) body.audience = flags.audience;
  if (flags.format !== undefined) {
    if (!(AUDIENCE_FORMATS as readonly string[]).includes(flags.format)) {
      throw usageError(`--format must be ${AUDIENCE_FORMATS.join(' or ')}, not ${JSON.stringify(flags.format)}`);
    }
    const audience = body.audience;
    if (typeof audience === 'string') body.audience = { url: audience, format: flags.format };
    else if (typeof audience === 'object' && audience !== null && 'url' in audience) {
      body.audience = { ...audience, format: flags.format };
    } else throw usageError('--format applies to an S3 audience; give --audience s3://bucket/key');
  }

  const content = Object.fromEntries(
    (['subject', 'text', 'html'] as const).flatMap((field) =>
      flags[field] === undefined ? [] : [[field, flags[field]]],
    ),
  );
  if (Object.keys(content).length > 0) {
    const fromFile = typeof body.content === 'object' && body.content !== null ? body.content : {};
    body.content = { ...fromFile, ...content };
  }

  if (flags.template !== undefined) {
    const fromFile = typeof body.template === 'object' && body.template !== null ? body.template : {};
    body.template = { ...fromFile, id: flags.template };
  }
  if (flags.vars !== undefined) {
    let vars: unknown;
    try {
      vars = JSON.parse(flags.vars);
    } catch {
      throw usageError(`--vars must be a JSON object, like '{"firstName":"Ada"}'`);
    }
    if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) {
      throw usageError(`--vars must be a JSON object, like '{"firstName":"Ada"}'`);
    }
    if (typeof body.template !== 'object' || body.template === null) {
      throw usageError('--vars are template variables; name the template with --template ID');
    }
    body.template = { ...body.template, vars };
  }

  if (flags.rate !== undefined) {
    const rate = Number(flags.rate);
    if (!(Number.isFinite(rate) && rate > 0)) {
      throw usageError(`--rate must be a positive number of recipients per second, not ${JSON.stringify(flags.rate)}`);
    }
    body.ratePerSecond = rate;
  }
  if (flags['start-at'] !== undefined) body.startAt = flags['start-at'];
  if (flags.start === true) body.start = true;

  const missing = (['name', 'channel', 'audience'] as const).filter((field) => body[field] === undefined);
  if (missing.length > 0) {
    throw usageError(
      `campaign create needs ${missing.map((field) => `--${field}`).join(', ')} (or a --file spec.json holding them)`,
    );
  }
  return body;
}

async function create(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse('create', args, CREATE_OPTIONS);
  if (values.help === true) return help();
  if (positionals.length > 0) throw usageError(`campaign create takes no arguments, got ${positionals.join(' ')}`);
  const body = await createBody(values);
  const connection = resolveConnection(values, env);
  const view = await callApi<CampaignView>(connection, 'POST', 'campaigns', body);
  if (values.json === true) writeJson(view);
  else {
    write(`created campaign ${view.id} (${view.status})`);
    if (view.status === 'draft') write(`start it with: switchboard campaign start ${view.id}`);
  }
  return 0;
}

async function list(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse('list', args, CONNECTION_OPTIONS);
  if (values.help === true) return help();
  if (positionals.length > 0) throw usageError(`campaign list takes no arguments, got ${positionals.join(' ')}`);
  const connection = resolveConnection(values, env);
  const answer = await callApi<{ campaigns: CampaignSummary[] }>(connection, 'GET', 'campaigns');
  if (values.json === true) {
    writeJson(answer);
    return 0;
  }
  if (answer.campaigns.length === 0) {
    write('no campaigns yet; create one with: switchboard campaign create --name … --channel … --audience …');
    return 0;
  }
  const header = { id: 'ID', status: 'STATUS', channel: 'CHANNEL', createdAt: 'CREATED', name: 'NAME' };
  const rows = [header, ...answer.campaigns];
  const width = (field: 'id' | 'status' | 'channel' | 'createdAt') => Math.max(...rows.map((row) => row[field].length));
  const widths = { id: width('id'), status: width('status'), channel: width('channel'), createdAt: width('createdAt') };
  for (const row of rows) {
    write(
      [
        row.id.padEnd(widths.id),
        row.status.padEnd(widths.status),
        row.channel.padEnd(widths.channel),
        row.createdAt.padEnd(widths.createdAt),
        row.name,
      ].join('  '),
    );
  }
  return 0;
}

/** The single campaign id a command takes. */
function campaignId(command: string, positionals: readonly string[]): string {
  const [id, ...extra] = positionals;
  if (id === undefined)
    throw usageError(`campaign ${command} needs a campaign id: switchboard campaign ${command} <id>`);
  if (extra.length > 0) throw usageError(`campaign ${command} takes one campaign id, got ${positionals.join(' ')}`);
  return id;
}

const campaignRoute = (id: string) => `campaigns/${encodeURIComponent(id)}`;

async function status(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse('status', args, CONNECTION_OPTIONS);
  if (values.help === true) return help();
  const id = campaignId('status', positionals);
  const view = await callApi<CampaignView>(resolveConnection(values, env), 'GET', campaignRoute(id));
  write(values.json === true ? JSON.stringify(view, null, 2) : describeCampaign(view));
  return 0;
}

async function act(action: Action, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(action, args, CONNECTION_OPTIONS);
  if (values.help === true) return help();
  const id = campaignId(action, positionals);
  const view = await callApi<CampaignView>(resolveConnection(values, env), 'POST', `${campaignRoute(id)}/${action}`);
  write(values.json === true ? JSON.stringify(view, null, 2) : statusLine(view));
  return 0;
}

/** What one poll of `watch` shows. */
type WatchSample = {
  readonly view: CampaignView;
  /** Finished sends per second since the previous poll; null on the first. */
  readonly sendsPerSecond: number | null;
};

/** Everything the campaign is expected to send: what is finished plus what is left, at least what was read. */
const expectedTotal = (view: CampaignView) => Math.max(view.counts.targeted, finished(view) + view.counts.remaining);

function watchEta({ view, sendsPerSecond }: WatchSample): string {
  if (view.done) return 'done';
  if (view.etaSeconds !== null) return formatDuration(view.etaSeconds);
  if (view.status === 'running' && sendsPerSecond !== null && sendsPerSecond > 0 && view.counts.remaining > 0) {
    return formatDuration(view.counts.remaining / sendsPerSecond);
  }
  return view.status === 'paused' ? 'paused' : '-';
}

const rateText = (sendsPerSecond: number | null) => (sendsPerSecond === null ? '-' : sendsPerSecond.toFixed(1));

/** One plain progress line, for a standard output that is not a terminal. */
function progressLine(sample: WatchSample): string {
  const { view } = sample;
  const { counts } = view;
  return (
    `${view.status}: ${count(counts.sent)}/${count(expectedTotal(view))} sent, ${count(counts.failed)} failed, ` +
    `${count(counts.suppressed)} suppressed, ${count(counts.remaining)} remaining, ` +
    `${rateText(sample.sendsPerSecond)} sends/s, ETA ${watchEta(sample)}`
  );
}

function finalSummary(view: CampaignView): string {
  const { counts } = view;
  const took =
    view.startedAt !== null && view.finishedAt !== null
      ? ` in ${formatDuration((Date.parse(view.finishedAt) - Date.parse(view.startedAt)) / 1000)}`
      : '';
  return (
    `campaign ${view.id} ${view.status}${took}: ${count(counts.sent)} sent, ${count(counts.failed)} failed, ` +
    `${count(counts.suppressed)} suppressed, ${count(counts.malformed)} malformed of ${count(counts.targeted)} targeted`
  );
}

/** A campaign that will not change any more: every send finished, or stopped for good. */
const settled = (view: CampaignView) => view.done || view.status === 'cancelled' || view.status === 'failed';

/** Shows progress either as a cli-progress bar (a terminal) or as one line per poll. */
type ProgressDisplay = { show(sample: WatchSample): void; stop(): void };

function barDisplay(): ProgressDisplay {
  const bar = new cliProgress.SingleBar(
    {
      format:
        '{bar} {percentage}% | {sent}/{expected} sent, {failed} failed, {suppressed} suppressed | {rate} sends/s | ETA {etaText} | {status}',
      stream: process.stdout,
      hideCursor: true,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    show(sample) {
      const { view } = sample;
      const expected = expectedTotal(view);
      const payload = {
        sent: count(view.counts.sent),
        expected: count(expected),
        failed: count(view.counts.failed),
        suppressed: count(view.counts.suppressed),
        rate: rateText(sample.sendsPerSecond),
        etaText: watchEta(sample),
        status: view.status,
      };
      // The bar's total is never 0, so its percentage stays a number before the audience is read.
      const total = Math.max(1, expected);
      if (!started) {
        bar.start(total, finished(view), payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(finished(view), payload);
      }
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

function lineDisplay(): ProgressDisplay {
  return { show: (sample) => write(progressLine(sample)), stop: () => undefined };
}

async function watch(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse('watch', args, WATCH_OPTIONS);
  if (values.help === true) return help();
  const id = campaignId('watch', positionals);
  const intervalMs = values.interval === undefined ? 1000 : Number(values.interval);
  if (!(Number.isInteger(intervalMs) && intervalMs >= 50)) {
    throw usageError(`--interval must be a whole number of milliseconds, at least 50, not ${values.interval}`);
  }
  const connection = resolveConnection(values, env);

  // The first poll fails fast, so a wrong URL, key or id is reported at once.
  let view = await callApi<CampaignView>(connection, 'GET', campaignRoute(id));
  if (values.json !== true && (view.status === 'draft' || view.status === 'paused') && !settled(view)) {
    process.stderr.write(
      `switchboard: campaign ${id} is ${view.status}; waiting until it runs (switchboard campaign ${view.status === 'draft' ? 'start' : 'resume'} ${id})\n`,
    );
  }
  const display = values.json === true ? null : process.stdout.isTTY ? barDisplay() : lineDisplay();
  const onInterrupt = () => {
    display?.stop();
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    let previous = { finished: finished(view), at: Date.now() };
    let sendsPerSecond: number | null = null;
    let lastSuccess = Date.now();
    for (;;) {
      if (values.json === true) write(JSON.stringify(view));
      else display?.show({ view, sendsPerSecond });
      if (settled(view)) break;
      await delay(intervalMs);
      try {
        view = await callApi<CampaignView>(connection, 'GET', campaignRoute(id));
      } catch (error) {
        if (!(error instanceof CampaignCliError && error.retryable) || Date.now() - lastSuccess > WATCH_RECONNECT_MS) {
          throw error;
        }
        continue;
      }
      const now = Date.now();
      lastSuccess = now;
      sendsPerSecond = (Math.max(0, finished(view) - previous.finished) * 1000) / Math.max(1, now - previous.at);
      previous = { finished: finished(view), at: now };
    }
  } finally {
    display?.stop();
    process.removeListener('SIGINT', onInterrupt);
  }
  if (values.json !== true) write(finalSummary(view));
  if (view.status === 'failed') {
    process.stderr.write(`switchboard: campaign ${id} failed: ${view.error ?? 'no reason given'}\n`);
    return 1;
  }
  return 0;
}

/**
 * Runs `switchboard campaign <args…>` and resolves with the exit code; throws CampaignCliError for
 * anything to report as one line.
 */
export async function runCampaignCommand(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command = 'help', ...rest] = args;
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      return help();
    case 'create':
      return create(rest, env);
    case 'list':
      return list(rest, env);
    case 'status':
      return status(rest, env);
    case 'watch':
      return watch(rest, env);
    case 'start':
    case 'pause':
    case 'resume':
    case 'cancel':
      return act(command, rest, env);
    default:
      throw usageError(`unknown campaign command ${JSON.stringify(command)}; use one of ${COMMANDS.join(', ')}`);
  }
}
