// Runs switchboard as a child process through the README's entry point (`node bin/switchboard.ts serve`)
// and reads its JSON log lines to learn when it is ready and on which port.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { waitFor } from './waitFor.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export type ServiceProcess = {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Waits for the `switchboard ready` log line and returns the port it names. */
  ready(timeoutMs?: number): Promise<number>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<number | string>;
};

/** Starts the service with exactly `env` (plus PATH and HOME), not the test runner's environment. */
export function startService(env: Record<string, string>, cwd: string = REPO_ROOT): ServiceProcess {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/switchboard.ts'), 'serve'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(...chunk.split('\n').filter(Boolean)));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(...chunk.split('\n').filter(Boolean)));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  let exitedWith: number | string | undefined;
  void exited.then((code) => {
    exitedWith = code;
  });
  return {
    child,
    stdout,
    stderr,
    exited,
    async ready(timeoutMs = 30_000) {
      const line = await waitFor(
        () => {
          if (exitedWith !== undefined) throw new Error(`service exited with ${exitedWith}: ${stderr.join('\n')}`);
          return stdout.find((l) => l.includes('"switchboard ready"'));
        },
        { timeoutMs, what: 'switchboard ready' },
      );
      return (JSON.parse(line) as { port: number }).port;
    },
    async stop() {
      if (exitedWith === undefined) child.kill('SIGTERM');
      return exited;
    },
  };
}
