// A PostgreSQL cluster of the test's own (initdb into a scratch directory, pg_ctl on a free loopback
// port), for tests that stop and start the database: stopping it disturbs nobody else. As root the
// PostgreSQL binaries run as the `postgres` user (initdb refuses root), via runuser.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type PrivatePostgresStatus = 'running' | 'stopped' | 'closed';

export type PrivatePostgres = {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly status: PrivatePostgresStatus;
  /** `pg_ctl stop -m fast`: connections are terminated, committed work is kept. */
  stop(): Promise<void>;
  /** Starts the cluster again on the same data directory and port. */
  start(): Promise<void>;
  /** Stops the cluster if it runs (killing the postmaster if it will not stop) and removes every file. */
  close(): Promise<void>;
};

export type PrivatePostgresOptions = {
  /** Extra `-c name=value` server settings. */
  readonly settings?: Readonly<Record<string, string>>;
};

/** The newest `/usr/lib/postgresql/<version>/bin`, or `SWITCHBOARD_TEST_PG_BIN` when set. */
export function postgresBinDir(): string {
  const fromEnv = process.env.SWITCHBOARD_TEST_PG_BIN;
  if (fromEnv) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(path.join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(`no PostgreSQL server binaries under ${root}; install postgresql or set SWITCHBOARD_TEST_PG_BIN`);
  }
  return path.join(root, newest, 'bin');
}

const asRoot = (): boolean => process.getuid?.() === 0;

/** The command line that runs a PostgreSQL binary as a user initdb accepts. */
function command(binDir: string, program: string, args: readonly string[]): [string, string[]] {
  const binary = path.join(binDir, program);
  return asRoot() ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, [...args]];
}

async function pg(binDir: string, program: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const [file, argv] = command(binDir, program, args);
  try {
    const { stdout } = await run(file, argv, { timeout: timeoutMs, killSignal: 'SIGKILL' });
    return stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${stderr || stdout || String(error)}`, { cause: error });
  }
}

/** A loopback TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Every cluster not yet closed, so that a dying test process still takes them down (see below). */
const live = new Set<{ binDir: string; dataDir: string }>();
let exitHookInstalled = false;

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function killPostmaster(dataDir: string): void {
  const pid = postmasterPid(dataDir);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const cluster of live) {
      try {
        const [file, argv] = command(cluster.binDir, 'pg_ctl', ['stop', '-D', cluster.dataDir, '-m', 'immediate']);
        execFileSync(file, argv, { stdio: 'ignore', timeout: 10_000 });
      } catch {
        killPostmaster(cluster.dataDir);
      }
    }
  });
}

/**
 * initdb (trust auth) into a new scratch directory and start the cluster on a free loopback port;
 * the Unix socket goes into the scratch directory too, so nothing is shared with the machine's server.
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const binDir = postgresBinDir();
  const root = await mkdtemp(path.join(tmpdir(), 'sb-private-pg-'));
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'postgresql.log');
  let status: PrivatePostgresStatus = 'stopped';
  const entry = { binDir, dataDir };
  let port = 0;

  const serverOptions = (): string =>
    [
      `-c listen_addresses=127.0.0.1`,
      `-p ${port}`,
      `-k ${root}`,
      ...Object.entries(options.settings ?? {}).map(([name, value]) => `-c ${name}=${value}`),
    ].join(' ');

  const startCluster = async (): Promise<void> => {
    try {
      await pg(binDir, 'pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions()]);
    } catch (error) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
      throw new Error(`${(error as Error).message}\n--- ${logFile} (tail) ---\n${log}`, { cause: error });
    }
    status = 'running';
  };

  try {
    if (asRoot()) await chown(root, ...postgresIds());
    await pg(binDir, 'initdb', ['-D', dataDir, '--auth=trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    live.add(entry);
    installExitHook();
    // A port can be taken between probing and binding; try a few.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await startCluster();
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  } catch (error) {
    killPostmaster(dataDir);
    live.delete(entry);
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    get status() {
      return status;
    },
    async stop() {
      if (status !== 'running') throw new Error(`cannot stop a private PostgreSQL that is ${status}`);
      await pg(binDir, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60']);
      status = 'stopped';
    },
    async start() {
      if (status !== 'stopped') throw new Error(`cannot start a private PostgreSQL that is ${status}`);
      await startCluster();
    },
    async close() {
      if (status === 'closed') return;
      if (status === 'running' || postmasterPid(dataDir) !== undefined) {
        await pg(binDir, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30']).catch(() =>
          killPostmaster(dataDir),
        );
      }
      status = 'closed';
      live.delete(entry);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** uid and gid of the `postgres` user. */
function postgresIds(): [number, number] {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('no postgres user to run PostgreSQL as');
  return [uid, gid];
}
