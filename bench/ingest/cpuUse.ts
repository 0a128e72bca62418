// Where the CPU went during a measured window, from /proc (Linux): cores used by the server child, by
// PostgreSQL for this run (the bench database's backends and the server's shared processes), by this
// process (the load generator, or the in-process service), and by the whole machine; what is left is
// other work on the machine. Elsewhere it reports nothing rather than guessing.
import { readdirSync, readFileSync } from 'node:fs';

export type CpuUse = {
  /** Cores (1.0 = one core busy for the whole window). */
  readonly server: number | null;
  readonly postgres: number;
  readonly benchProcess: number;
  readonly machine: number;
  /** The machine's busy cores less the three above: other processes (another test run, say) and the kernel. */
  readonly other: number;
  readonly machineCores: number;
};

type Reading = {
  readonly at: number;
  readonly server: number | null;
  /** Ticks of each PostgreSQL process that works for this run, by pid. */
  readonly postgres: ReadonlyMap<number, number>;
  readonly benchProcess: number;
  readonly machineBusy: number;
  readonly machineCores: number;
};

const TICKS_PER_SECOND = 100;

function processTicks(pid: number): number | null {
  try {
    // Fields after the command (which may hold spaces) start at state; utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

// A backend's title is "postgres: [cluster: ]user database host(port) state"; shared processes' are not.
const BACKEND_TITLE = /^postgres: (?:[\w./-]+: )?\S+ (\S+) [\d.:a-f]+\(\d+\)/;

/** PostgreSQL processes serving `database`, and the server's own (writers, checkpointer, postmaster). */
function postgresTicks(database: string): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const backendOf = BACKEND_TITLE.exec(title)?.[1];
      if (backendOf !== undefined && backendOf !== database) continue;
    } catch {
      continue;
    }
    const value = processTicks(Number(entry));
    if (value !== null) ticks.set(Number(entry), value);
  }
  return ticks;
}

function machineTicks(): { busy: number; cores: number } {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const [, ...values] = (lines[0] ?? '').trim().split(/\s+/);
  // Idle, I/O wait and time stolen by the hypervisor are not work done here.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = values.map(Number);
  const cores = lines.filter((line) => /^cpu\d+ /.test(line)).length;
  return { busy: user + nice + system + irq + softirq, cores };
}

/** Cores busy machine-wide over `ms` while this bench is idle: other work that will disturb the figures. */
export async function foreignLoad(ms: number): Promise<CpuUse | null> {
  const start = readCpu(undefined, '');
  await new Promise((resolve) => setTimeout(resolve, ms));
  return cpuUseSince(start, undefined, '');
}

/** A reading to pass to {@link cpuUseSince} at the end of the window; null where /proc is missing. */
export function readCpu(serverPid: number | undefined, database: string): Reading | null {
  try {
    const machine = machineTicks();
    const usage = process.cpuUsage();
    return {
      at: performance.now(),
      server: serverPid === undefined ? null : processTicks(serverPid),
      postgres: postgresTicks(database),
      benchProcess: ((usage.user + usage.system) / 1e6) * TICKS_PER_SECOND,
      machineBusy: machine.busy,
      machineCores: machine.cores,
    };
  } catch {
    return null;
  }
}

export function cpuUseSince(start: Reading | null, serverPid: number | undefined, database: string): CpuUse | null {
  const end = readCpu(serverPid, database);
  if (start === null || end === null) return null;
  const seconds = (end.at - start.at) / 1000;
  const cores = (ticks: number) => Math.round((ticks / TICKS_PER_SECOND / seconds) * 100) / 100;
  const server = start.server === null || end.server === null ? null : cores(end.server - start.server);
  // A process that exited during the window is lost (an undercount); one that started is counted whole.
  let postgresTicksUsed = 0;
  for (const [pid, ticks] of end.postgres) postgresTicksUsed += ticks - (start.postgres.get(pid) ?? 0);
  const postgres = cores(postgresTicksUsed);
  const benchProcess = cores(end.benchProcess - start.benchProcess);
  const machine = cores(end.machineBusy - start.machineBusy);
  return {
    server,
    postgres,
    benchProcess,
    machine,
    other: Math.max(0, Math.round((machine - (server ?? 0) - postgres - benchProcess) * 100) / 100),
    machineCores: end.machineCores,
  };
}
