// Brings a stored actor state from the schema version it was written with up to the version the
// running code understands, one step at a time. Pure: no I/O, so it is unit-tested on its own.

/** `upgrades[v]` turns a version-`v` state into a version-`v + 1` state. */
export type SnapshotUpgrades = Readonly<Record<number, (state: unknown) => unknown>>;

/** A stored snapshot cannot be read by this code: its version is newer, or a step of the chain is missing. */
export class SnapshotVersionError extends Error {
  readonly key: string;
  readonly storedVersion: number;
  readonly currentVersion: number;
  /** The version that has no upgrade to the next one; absent when the stored version is too new. */
  readonly missingStep: number | undefined;

  constructor(key: string, storedVersion: number, currentVersion: number, missingStep?: number) {
    super(
      missingStep === undefined
        ? `snapshot of ${key} has schema version ${storedVersion}, newer than this code's ${currentVersion}; run code that knows version ${storedVersion}`
        : `snapshot of ${key} has schema version ${storedVersion} but there is no upgrade from version ${missingStep} to ${missingStep + 1} (current ${currentVersion})`,
    );
    this.name = 'SnapshotVersionError';
    this.key = key;
    this.storedVersion = storedVersion;
    this.currentVersion = currentVersion;
    this.missingStep = missingStep;
  }
}

/** An upgrade function threw; `cause` holds what it threw. */
export class SnapshotUpgradeError extends Error {
  readonly key: string;
  readonly fromVersion: number;

  constructor(key: string, fromVersion: number, cause: unknown) {
    super(`upgrading the snapshot of ${key} from schema version ${fromVersion} to ${fromVersion + 1} failed`, {
      cause,
    });
    this.name = 'SnapshotUpgradeError';
    this.key = key;
    this.fromVersion = fromVersion;
  }
}

/**
 * Applies `upgrades[stored]`, `upgrades[stored + 1]`, … until the state is at `currentVersion`.
 * @throws {SnapshotVersionError} when `storedVersion` is newer than `currentVersion` or a step is missing.
 * @throws {SnapshotUpgradeError} when an upgrade step throws.
 * @example upgradeSnapshot('r:1', { n: 1 }, 1, 2, { 1: (s) => ({ ...(s as object), m: 0 }) }) // { n: 1, m: 0 }
 */
export function upgradeSnapshot(
  key: string,
  state: unknown,
  storedVersion: number,
  currentVersion: number,
  upgrades: SnapshotUpgrades,
): unknown {
  if (storedVersion > currentVersion) throw new SnapshotVersionError(key, storedVersion, currentVersion);
  // Check the whole chain first, so a missing step is reported before any upgrade runs.
  for (let version = storedVersion; version < currentVersion; version++) {
    if (typeof upgrades[version] !== 'function')
      throw new SnapshotVersionError(key, storedVersion, currentVersion, version);
  }
  let upgraded = state;
  for (let version = storedVersion; version < currentVersion; version++) {
    const step = upgrades[version];
    if (step === undefined) throw new SnapshotVersionError(key, storedVersion, currentVersion, version);
    try {
      upgraded = step(upgraded);
    } catch (error) {
      throw new SnapshotUpgradeError(key, version, error);
    }
  }
  return upgraded;
}
