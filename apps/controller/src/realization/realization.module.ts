import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { DispatcherService } from './dispatcher.service';
import { ReplicaSyncService } from './replica-sync.service';
import { StatusService } from './status.service';
import { ChangeWaiter, WaitInterceptor } from './wait.interceptor';

/**
 * Realization: compiling the intent into each host's desired state, dispatching it to the
 * agents, storing what they report, and `wait`. Global: the agent channel and the plugin kinds'
 * mutations use it.
 */
@Global()
@Module({
  providers: [DispatcherService, StatusService, ReplicaSyncService, ChangeWaiter, { provide: APP_INTERCEPTOR, useClass: WaitInterceptor }],
  exports: [DispatcherService, StatusService, ReplicaSyncService, ChangeWaiter],
})
export class RealizationModule {}
