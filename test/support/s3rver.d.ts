// Minimal types for s3rver (it ships none): only the surface test/support/s3Server.ts uses.
declare module 's3rver' {
  import type { AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
  }

  class S3rver {
    constructor(options?: S3rverOptions);
    /** Resolves with the listening server's address (`httpServer.address()`). */
    run(): Promise<AddressInfo | string | null>;
    close(): Promise<void>;
  }

  export = S3rver;
}
