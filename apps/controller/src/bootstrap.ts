import { readFileSync } from 'node:fs';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import type { NextFunction, Request, Response } from 'express';
import { lexicographicSortSchema, printSchema } from 'graphql';
import type { Logger } from 'pino';
import { createLogger } from '@netloom/cli';
import { AppModule } from './app.module';
import { badInput } from '@netloom/model';
import { AuthService } from './auth/auth.service';
import { ControllerConfig } from './config';
import { loggingParams, NestLogger } from './observability/logging';

/** Creates the controller application (not yet listening), logging to `logger` (default: a new one at the configured level). */
export async function createController(
  config: ControllerConfig,
  logger: Logger = createLogger({ name: 'netloom-controller', level: config.logLevel }),
): Promise<INestApplication> {
  const logging = loggingParams(logger);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logging), {
    bodyParser: false,
    logger: new NestLogger(logging),
    // Throw start-up errors to the caller (main() reports and exits; tests clean up) instead of process.exit.
    abortOnError: false,
    httpsOptions: config.tlsCert && config.tlsKey ? { cert: readPem(config.tlsCert, 'certificate'), key: readPem(config.tlsKey, 'key') } : undefined,
  });
  app.useBodyParser('json', { limit: config.bodyLimit });
  // A body the parser refuses (too large, say) is the client's error, but Nest logs it with a
  // stack trace as a server failure: same answer, no log. (Malformed JSON Nest already maps.)
  app.use((error: { status?: number; expose?: boolean; message: string }, _req: Request, res: Response, next: NextFunction) => {
    if (error instanceof SyntaxError || !error.expose || !error.status || error.status >= 500) {
      next(error);
      return;
    }
    res.status(error.status).json({ statusCode: error.status, message: error.message });
  });
  app.enableShutdownHooks();
  return app;
}

/** The SDL the running code serves, sorted, as committed in schema.graphql. */
export async function printControllerSchema(app: INestApplication): Promise<string> {
  await app.init();
  const { schema } = app.get(GraphQLSchemaHost);
  return printSchema(lexicographicSortSchema(schema)) + '\n';
}

/** The admin token made on first start with an empty database, or null. */
export function bootstrapAdminToken(app: INestApplication): Promise<string | null> {
  return app.get(AuthService).bootstrap();
}

function readPem(path: string, what: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw badInput(`cannot read the TLS ${what} ${path}: ${(error as Error).message}`);
  }
  if (!pem.includes('-----BEGIN ')) throw badInput(`the TLS ${what} file ${path} is not PEM`);
  return pem;
}
