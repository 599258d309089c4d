import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { bootstrapAdminToken, createController } from '../../apps/controller/src/bootstrap';
import { loadConfig } from '../../apps/controller/src/config';
import { controllerOptions } from './fixtures';

/** A controller inside the test process (so its services can be reached and spied on), on the test's store. */
export interface InProcessController {
  app: INestApplication;
  /** http://127.0.0.1:PORT, without /graphql. */
  base: string;
  /** An admin token. */
  token: string;
  /** A GraphQL request as admin; throws on errors. */
  gql: (query: string, variables?: Record<string, unknown>) => Promise<any>;
  close: () => Promise<void>;
}

export async function inProcessController(name: string, env: Record<string, string> = {}): Promise<InProcessController> {
  const dataDir = mkdtempSync(join(tmpdir(), `netloom-${name}-`));
  const { database } = await controllerOptions();
  // Warnings and errors only: request lines would flood the test's output.
  const config = loadConfig([], { NETLOOM_DATA_DIR: dataDir, NETLOOM_LOG_LEVEL: 'warn', ...(database ? { NETLOOM_DATABASE: database } : {}), ...env });
  const app = await createController(config);
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as { port: number }).port}`;
  const token = (await bootstrapAdminToken(app))!;
  return {
    app,
    base,
    token,
    gql: async (query, variables = {}) => {
      const response = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: any; errors?: unknown[] };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    },
    close: async () => {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
