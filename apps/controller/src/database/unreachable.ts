import { QueryFailedError } from 'typeorm';

/**
 * How a database server was out of reach: `refused` when no connection could be made (nothing of
 * the request reached it), `lost` when the connection broke on the way (a COMMIT in flight may or
 * may not have happened).
 */
export type Unreachable = 'refused' | 'lost';

// Node's socket errors and PostgreSQL's SQLSTATEs: cannot_connect_now, too_many_connections and
// sqlclient_unable_to_establish_sqlconnection say no session began; admin/crash shutdown and the
// connection exceptions that a session ended.
const REFUSED = new Set(['ECONNREFUSED', 'ENOENT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', '57P03', '53300', '08001', '08004']);
const LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '08000', '08003', '08006']);
// node-postgres says these in words only.
const REFUSED_TEXT = /timeout exceeded when trying to connect|connection timeout/i;
const LOST_TEXT = /connection terminated|not queryable|connection ended/i;

/** Whether `error` says the database server is out of reach (undefined: some other failure). */
export function unreachable(error: unknown): Unreachable | undefined {
  const source: unknown = error instanceof QueryFailedError ? error.driverError : error;
  if (!(source instanceof Error)) return undefined;
  // A host name with several addresses fails with an AggregateError of one error per address.
  const inner = source instanceof AggregateError ? (source.errors[0] as unknown) : undefined;
  const raw = (source as { code?: unknown }).code ?? (inner as { code?: unknown } | undefined)?.code;
  const code = typeof raw === 'string' ? raw : '';
  if (REFUSED.has(code)) return 'refused';
  if (LOST.has(code)) return 'lost';
  if (code) return undefined;
  if (REFUSED_TEXT.test(source.message)) return 'refused';
  if (LOST_TEXT.test(source.message)) return 'lost';
  return undefined;
}
