// How bench:ingest turns rounds into figures: medians, rounding, ratios, and CPU use per side.
import type { CpuUse } from './cpuUse.ts';

export const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

export const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

export const ratioOf = (ours: number, baseline: number) => round(ours / baseline, 3);

export type CpuSummary = {
  readonly server: number | null;
  readonly postgres: number;
  readonly benchProcess: number;
  readonly machine: number;
  readonly other: number;
  readonly machineCores: number;
};

/** The median of each CPU figure over the rounds; null where /proc was not readable. */
export function cpuMedian(rows: ReadonlyArray<CpuUse | null>): CpuSummary | null {
  const known = rows.filter((row): row is CpuUse => row !== null);
  if (known.length === 0) return null;
  const pick = (field: 'postgres' | 'benchProcess' | 'machine' | 'other') => median(known.map((row) => row[field]));
  const servers = known.map((row) => row.server).filter((value): value is number => value !== null);
  return {
    server: servers.length > 0 ? median(servers) : null,
    postgres: pick('postgres'),
    benchProcess: pick('benchProcess'),
    machine: pick('machine'),
    other: pick('other'),
    machineCores: known[0]?.machineCores ?? 0,
  };
}

/** "label: server 0.9, postgres 0.6, load generator 0.3, other 0.1, machine 1.9 of 2" */
export function describeCpu(label: string, cpu: CpuSummary | null, benchProcessIs: string): string {
  if (cpu === null) return `${label}: (no /proc)`;
  const server = cpu.server === null ? '' : `server ${cpu.server}, `;
  return `${label}: ${server}postgres ${cpu.postgres}, ${benchProcessIs} ${cpu.benchProcess}, other ${cpu.other}, machine ${cpu.machine} of ${cpu.machineCores}`;
}
