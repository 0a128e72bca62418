// What every part of bench:ingest is handed: the run's settings, its database and its progress line.

export type IngestSettings = {
  readonly quick: boolean;
  /** Paired rounds per figure; each figure is the median. */
  readonly rounds: number;
  /** The measured window of each part's rounds. */
  readonly windowMs: {
    readonly inProcess: number;
    readonly batch: number;
    readonly single: number;
    readonly latency: number;
  };
  /** Unmeasured load before each measurement (autocannon's on whole seconds). */
  readonly warmupMs: { readonly single: number; readonly other: number };
  readonly inProcessConcurrency: number;
  readonly batchSizes: readonly number[];
  readonly batchConcurrency: number;
  /** Connections of the single-POST loads, for the service and the bare handler alike. */
  readonly connections: number;
  readonly tenant: string;
  readonly apiKey: string;
  /** Where the service children write CPU profiles, if anywhere. */
  readonly profileDir: string | undefined;
};

import type { BenchDatabase } from '../benchDatabase.ts';

export type { BenchDatabase };

export type IngestContext = {
  readonly settings: IngestSettings;
  readonly db: BenchDatabase;
  readonly progress: (line: string) => void;
};
