// Keeps the logs of service processes a failed test ran, for the post-mortem: one file per process
// under $TMPDIR/switchboard-test-logs/, named after the test and the pid.
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServiceProcess } from './serviceProcess.ts';

export async function saveServiceLogs(name: string, processes: readonly ServiceProcess[]): Promise<string[]> {
  const dir = path.join(tmpdir(), 'switchboard-test-logs');
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return Promise.all(
    processes.map(async (service, i) => {
      const file = path.join(dir, `${name}-${stamp}-${i}-pid${service.child.pid ?? 'unknown'}.log`);
      await writeFile(file, [...service.stdout, '--- stderr ---', ...service.stderr].join('\n') + '\n');
      return file;
    }),
  );
}
