// Four suites: pure logic (unit), real services over the wire (integration), the built service as a
// process (e2e), and the service as a process under kill -9 and outages (chaos). Integration, e2e and
// chaos run files one at a time: they share local services and ports. Chaos is heavy and is run on its
// own, after the others (deploy/local/test.sh), so it never overlaps another suite.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'test/unit/**/*.test.ts',
            'runtime/**/*.test.ts',
            'actors/**/*.test.ts',
            'supervisors/**/*.test.ts',
            'http/**/*.test.ts',
          ],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
