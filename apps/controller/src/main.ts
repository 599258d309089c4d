import './production-env';
import 'reflect-metadata';
import type { Server } from 'node:http';
import { createLogger, exitOnStartError } from '@netloom/cli';
import { NetloomError } from '@netloom/model';
import { AgentSocketService } from './agents/agent-socket.service';
import { bootstrapAdminToken, createController } from './bootstrap';
import { describeDatabase, loadConfig } from './config';
import { StoreRefused } from './database/store';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'netloom-controller', level: config.logLevel });
  for (const warning of config.warnings) logger.warn(warning);
  const app = await createController(config, logger);
  await app.listen(config.port, config.listenHost);
  const address = (app.getHttpServer() as Server).address() as { port: number };
  const host = config.listenHost.includes(':') ? `[${config.listenHost}]` : config.listenHost;
  const url = `${config.tlsCert ? 'https' : 'http'}://${host}:${address.port}/graphql`;
  if (config.agentSocket) await app.get(AgentSocketService).listen(config.agentSocket);
  const token = await bootstrapAdminToken(app);
  // Machine-readable lines first (tests and scripts parse them), then a human summary.
  process.stdout.write(`NETLOOM_URL=${url}\n`);
  if (config.agentSocket) process.stdout.write(`NETLOOM_AGENT_SOCKET=${config.agentSocket}\n`);
  if (token) {
    process.stdout.write(`NETLOOM_ADMIN_TOKEN=${token}\n`);
    process.stdout.write('This admin token is shown once; only its hash is stored. Keep it.\n');
  }
  const socket = config.agentSocket ? ` and ${config.agentSocket}` : '';
  const database = describeDatabase(config.database);
  logger.info({ url, agentSocket: config.agentSocket, database }, `NetLoom controller listening on ${url}${socket} (database ${database})`);
  const ui = url.replace(/\/graphql$/, '/ui');
  logger.info({ ide: url, ui }, `In a browser: the GraphQL IDE at ${url}, the topology page at ${ui}`);
}

main().catch((error: unknown) => exitOnStartError('netloom-controller', error, (e) => e instanceof NetloomError || e instanceof StoreRefused));
