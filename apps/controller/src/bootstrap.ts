import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { AppModule } from './app.module';
import { AuthService } from './auth/auth.service';
import { ControllerConfig } from './config';

/** Creates the controller application (not yet listening). */
export async function createController(config: ControllerConfig): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    logger: ['error', 'warn'],
  });
  app.useBodyParser('json', { limit: config.bodyLimit });
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
