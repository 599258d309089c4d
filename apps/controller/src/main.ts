import 'reflect-metadata';
import type { Server } from 'node:http';
import { Logger } from '@nestjs/common';
import { NetloomError } from '@netloom/model';
import { bootstrapAdminToken, createController } from './bootstrap';
import { loadConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await createController(config);
  await app.listen(config.port, config.listenHost);
  const address = (app.getHttpServer() as Server).address() as { port: number };
  const host = config.listenHost.includes(':') ? `[${config.listenHost}]` : config.listenHost;
  const url = `http://${host}:${address.port}/graphql`;
  const token = await bootstrapAdminToken(app);
  // Machine-readable lines first (tests and scripts parse them), then a human summary.
  process.stdout.write(`NETLOOM_URL=${url}\n`);
  if (token) {
    process.stdout.write(`NETLOOM_ADMIN_TOKEN=${token}\n`);
    process.stdout.write('This admin token is shown once; only its hash is stored. Keep it.\n');
  }
  Logger.log(`NetLoom controller listening on ${url} (database ${config.databaseFile})`, 'Controller');
}

main().catch((error: unknown) => {
  const message = error instanceof NetloomError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`netloom-controller: ${message}\n`);
  process.exit(1);
});
