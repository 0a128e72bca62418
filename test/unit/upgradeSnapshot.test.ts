// The snapshot upgrade chain: steps applied in order, and named errors for what cannot be read.
import { describe, expect, it } from 'vitest';
import {
  SnapshotUpgradeError,
  type SnapshotUpgrades,
  SnapshotVersionError,
  upgradeSnapshot,
} from '../../runtime/persistence/upgradeSnapshot.ts';

const upgrades: SnapshotUpgrades = {
  1: (state) => ({ ...(state as { count: number }), caps: {} }),
  2: (state) => {
    const { count, ...rest } = state as { count: number; caps: object };
    return { ...rest, counters: { sent: count } };
  },
};

describe('upgradeSnapshot', () => {
  it('returns the state unchanged when it is already current', () => {
    const state = { counters: { sent: 1 } };
    expect(upgradeSnapshot('k', state, 3, 3, upgrades)).toBe(state);
  });

  it('applies each step from the stored version up to the current one, in order', () => {
    expect(upgradeSnapshot('k', { count: 4 }, 1, 3, upgrades)).toEqual({ caps: {}, counters: { sent: 4 } });
    expect(upgradeSnapshot('k', { count: 4, caps: { sms: 1 } }, 2, 3, upgrades)).toEqual({
      caps: { sms: 1 },
      counters: { sent: 4 },
    });
  });

  it('refuses a stored version newer than the code', () => {
    const error = catchError(() => upgradeSnapshot('recipient:9', {}, 4, 3, upgrades));
    expect(error).toBeInstanceOf(SnapshotVersionError);
    expect(error).toMatchObject({ key: 'recipient:9', storedVersion: 4, currentVersion: 3, missingStep: undefined });
    expect((error as Error).message).toMatch(/newer/);
  });

  it('names the missing step and runs no step when the chain has a gap', () => {
    let ran = 0;
    const gappy: SnapshotUpgrades = {
      1: (s) => {
        ran++;
        return s;
      },
      3: (s) => s,
    };
    const error = catchError(() => upgradeSnapshot('k', {}, 1, 4, gappy));
    expect(error).toBeInstanceOf(SnapshotVersionError);
    expect(error).toMatchObject({ storedVersion: 1, currentVersion: 4, missingStep: 2 });
    expect(ran).toBe(0);
  });

  it('wraps a throwing step with the key, the version and the cause', () => {
    const boom = new Error('boom');
    const error = catchError(() =>
      upgradeSnapshot('k', {}, 1, 2, {
        1: () => {
          throw boom;
        },
      }),
    );
    expect(error).toBeInstanceOf(SnapshotUpgradeError);
    expect(error).toMatchObject({ key: 'k', fromVersion: 1, cause: boom });
  });
});

function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
