// Starts one of the bench's servers (the service or the bare handler) as a child process, so that the
// load generator in the parent never shares a process with the server it measures.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import type { ChildReport, DeliveryStats, ParentRequest } from './serverProtocol.ts';
import type { GroupCommitStats } from '../../runtime/persistence/GroupCommit.ts';

export type ServerKind = 'service' | 'bare';

export type ServerProcess = {
  readonly kind: ServerKind;
  readonly pid: number | undefined;
  readonly port: number;
  /** Acceptance and delivery figures (the service only). */
  stats(): Promise<{ accept: GroupCommitStats; delivery: DeliveryStats }>;
  /** Asks the child to exit and waits for it; kills it if it has not exited within 10 s. */
  stop(): Promise<void>;
};

export type StartServerOptions = {
  readonly kind: ServerKind;
  /** The child's whole environment (plus PATH and HOME); the parent's is not inherited. */
  readonly env: Record<string, string>;
  /** Extra node flags, e.g. --cpu-prof. */
  readonly execArgv?: readonly string[];
  /** Where the child's warnings and errors go (its JSON log lines at level warn and above). */
  readonly onProblem: (line: string) => void;
};

const ENTRY: Record<ServerKind, string> = {
  service: path.join(import.meta.dirname, 'serviceServer.ts'),
  bare: path.join(import.meta.dirname, 'bareServer.ts'),
};

const PROBLEM_LEVEL = /"level":"(warn|error|fatal)"/;

export async function startServer(options: StartServerOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...(options.execArgv ?? []), ENTRY[options.kind]], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const stderr: string[] = [];
  forwardLines(child, (line, stream) => {
    if (stream === 'stderr') stderr.push(line);
    if (stream === 'stderr' || PROBLEM_LEVEL.test(line)) options.onProblem(`${options.kind}: ${line}`);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.kind} server did not start within 30 s`));
    }, 30_000);
    child.on('message', (message: ChildReport) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve(message.port);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`${options.kind} server exited with ${code ?? signal} before it was ready: ${stderr.join('\n')}`),
      );
    });
  });
  const request = (message: ParentRequest) => child.send(message);
  return {
    kind: options.kind,
    pid: child.pid,
    port,
    stats() {
      return new Promise((resolve) => {
        const onMessage = (message: ChildReport) => {
          if (message.type !== 'stats') return;
          child.off('message', onMessage);
          resolve({ accept: message.accept, delivery: message.delivery });
        };
        child.on('message', onMessage);
        request({ type: 'stats' });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      request({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function forwardLines(child: ChildProcess, onLine: (line: string, stream: 'stdout' | 'stderr') => void): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    let rest = '';
    child[stream]?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line !== '') onLine(line, stream);
    });
  }
}
