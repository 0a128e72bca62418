// Clean-up of what a test started, that holds even when the test failed half-way: service processes
// are stopped (SIGTERM, then SIGKILL after a grace period) and reaped if the test process exits
// first, and every clean-up step runs even when an earlier one throws.
import type { ChildProcess } from 'node:child_process';
import type { ServiceProcess } from './serviceProcess.ts';

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

const running = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/** SIGKILLs `child` when the test process exits while it still runs (a crash, a forced stop of vitest). */
export function reapOnExit(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const each of children) if (running(each)) each.kill('SIGKILL');
  });
}

/** SIGTERM, and SIGKILL if the process has not exited within `graceMs`; resolves once it has exited. */
export async function stopOrKill(service: ServiceProcess, graceMs = 15_000): Promise<void> {
  if (!running(service.child)) return;
  service.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const exitedInTime = await Promise.race([
    service.exited.then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (!exitedInTime) {
    service.child.kill('SIGKILL');
    await service.exited;
  }
}

/** Runs every step in order, whatever the earlier ones did; then throws the first failure, if any. */
export async function cleanUp(steps: ReadonlyArray<() => unknown>): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} clean-up steps failed`);
}
