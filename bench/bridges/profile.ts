// With --cpu-prof-dir=DIR, bench:bridges profiles our side's windows (in this process, through the
// inspector), writes each as a .cpuprofile for DevTools, and summarises where the samples fell: by
// package or source file, and by function.
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { round } from './common.ts';

type ProfileNode = {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
};

export type ProfileSummary = {
  readonly file: string;
  /** Share of the busy samples (idle excluded), by package, repository file or V8 category. */
  readonly areas: ReadonlyArray<readonly [string, number]>;
  readonly functions: ReadonlyArray<readonly [string, number]>;
};

const ROOT = path.resolve(import.meta.dirname, '../..');

function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const modules = file.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [scope, name] = file.slice(modules + '/node_modules/'.length).split('/');
    return scope?.startsWith('@') ? `${scope}/${name ?? ''}` : (scope ?? file);
  }
  return path.relative(ROOT, file);
}

function top(map: Map<string, number>, total: number, n: number): Array<readonly [string, number]> {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, hits]) => [key, round(hits / total, 3)] as const);
}

/** Profiles only between start() and stop(). */
export class WindowProfiler {
  readonly #dir: string;
  readonly #session = new Session();
  #connected = false;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async start(): Promise<void> {
    if (!this.#connected) {
      this.#session.connect();
      this.#connected = true;
      await this.#session.post('Profiler.enable');
      await this.#session.post('Profiler.setSamplingInterval', { interval: 500 });
    }
    await this.#session.post('Profiler.start');
  }

  async stop(name: string): Promise<ProfileSummary> {
    const { profile } = await this.#session.post('Profiler.stop');
    const file = path.join(this.#dir, `${name}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    const areas = new Map<string, number>();
    const functions = new Map<string, number>();
    let busy = 0;
    for (const node of profile.nodes as ProfileNode[]) {
      const hits = node.hitCount ?? 0;
      const { functionName, url, lineNumber } = node.callFrame;
      if (hits === 0 || functionName === '(idle)') continue;
      busy += hits;
      const area = areaOf(url, functionName);
      areas.set(area, (areas.get(area) ?? 0) + hits);
      const where = url === '' ? area : `${area}:${lineNumber + 1}`;
      const fn = `${functionName || '(anonymous)'} ${where}`;
      functions.set(fn, (functions.get(fn) ?? 0) + hits);
    }
    return { file, areas: top(areas, Math.max(busy, 1), 12), functions: top(functions, Math.max(busy, 1), 15) };
  }

  close(): void {
    if (this.#connected) this.#session.disconnect();
  }
}
