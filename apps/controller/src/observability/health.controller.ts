import { Controller, Get, Res } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { Store } from '../database/store';

/** How long `/readyz` waits for the database before it says it is not ready. */
const READY_TIMEOUT_MS = 2_000;

export interface Health {
  status: 'ok' | 'ready' | 'unavailable';
  /** Why it is not ready (no secret: the store's description never carries a password). */
  reason?: string;
}

/**
 * Probes for process supervisors and load balancers, with no token (they say nothing of the
 * intent): `/healthz` answers while the process serves HTTP; `/readyz` answers 200 when the
 * database answers too (its migrations ran before the controller started listening), 503 with
 * the reason otherwise.
 */
@Controller()
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly store: Store,
  ) {}

  @Get('healthz')
  healthz(): Health {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res({ passthrough: true }) response: Response): Promise<Health> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, fail) => {
        timer = setTimeout(() => fail(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      });
      await Promise.race([this.dataSource.query('SELECT 1'), timeout]);
      return { status: 'ready' };
    } catch (error) {
      response.status(503);
      return { status: 'unavailable', reason: `database ${this.store.description}: ${error instanceof Error ? error.message : String(error)}` };
    } finally {
      clearTimeout(timer);
    }
  }
}
