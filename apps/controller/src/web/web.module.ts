import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { GraphiqlPageMiddleware } from './graphiql-page.middleware';
import { WebController } from './web.controller';

/** What browsers get: GraphiQL at /graphql, the topology page at /ui, and their files. */
@Module({ controllers: [WebController] })
export class WebModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(GraphiqlPageMiddleware).forRoutes({ path: 'graphql', method: RequestMethod.GET });
  }
}
