import { ArgumentsHost, Catch, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { GqlContextType } from '@nestjs/graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { QueryFailedError } from 'typeorm';
import { ErrorCode, NetloomError } from '@netloom/model';
import { unreachable } from '../database/unreachable';

const logger = new Logger('GraphQL');

// Codes that graphql-js and Apollo set themselves for malformed requests: shown as they are.
const PROTOCOL_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  ErrorCode.Unauthenticated,
  ErrorCode.Forbidden,
]);

/**
 * Nest logs every error a resolver throws, with its stack, as if the server had failed. A
 * NetloomError is the caller's (bad input, a conflict, missing rights): in GraphQL it goes on to
 * formatError without a log. Plain HTTP routes keep Nest's default handling.
 */
@Catch(NetloomError)
export class NetloomErrorFilter extends BaseExceptionFilter {
  override catch(error: NetloomError, host: ArgumentsHost): void {
    if (host.getType<GqlContextType>() !== 'graphql') return super.catch(error, host);
    throw error;
  }
}

/** The database's own constraint errors, when a race slips past the service's checks. */
function constraintViolation(error: unknown): NetloomError | undefined {
  if (!(error instanceof QueryFailedError)) return undefined;
  const driverError = error.driverError as { code?: string } | undefined;
  const code = driverError?.code ?? '';
  if (code.startsWith('SQLITE_CONSTRAINT') || code === '23505' || code === '23503') {
    return new NetloomError(ErrorCode.Conflict, 'the change conflicts with the current state (constraint violated); reload and retry');
  }
  return undefined;
}

// The store refused the write as a whole (SQLite's primary result codes; PostgreSQL's disk full and
// lock timeout): nothing of the change was saved, and retrying later can succeed.
const STORE_UNAVAILABLE: Record<string, string> = {
  SQLITE_FULL: 'database disk full: the change was not saved; free space on the controller\'s data dir, then retry',
  '53100': 'database disk full: the change was not saved; free space on the database server, then retry',
  SQLITE_BUSY: 'database busy: the change was not saved; retry',
  SQLITE_LOCKED: 'database busy: the change was not saved; retry',
  '55P03': 'database busy: the change was not saved; retry',
  SQLITE_IOERR: 'database I/O error: the change was not saved; check the controller\'s disk, then retry',
  SQLITE_READONLY: 'database is read-only: the change was not saved; check the controller\'s data dir',
};

const UNREACHABLE = {
  refused: 'database unavailable: PostgreSQL cannot be reached; nothing was saved; retry once it is back',
  lost: 'database unavailable: the connection to PostgreSQL was lost; a change in flight may not have been saved: reload, then retry',
};

/**
 * A store failure as UNAVAILABLE: disk full, busy or I/O (the change was rolled back whole), or a
 * PostgreSQL server out of reach (for a write whose COMMIT was under way, the outcome is unknown).
 */
export function storeUnavailable(error: unknown): NetloomError | undefined {
  const away = unreachable(error);
  if (away) return new NetloomError(ErrorCode.Unavailable, UNREACHABLE[away]);
  const source: unknown = error instanceof QueryFailedError ? error.driverError : error;
  const raw = (source as { code?: unknown } | undefined)?.code;
  const code = typeof raw === 'string' ? raw : '';
  // SQLite's extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT…) share their primary's meaning.
  const message = STORE_UNAVAILABLE[code] ?? STORE_UNAVAILABLE[code.replace(/^(SQLITE_[A-Z]+?)_.*$/, '$1')];
  return message ? new NetloomError(ErrorCode.Unavailable, message) : undefined;
}

/** The one mapping from errors to what a GraphQL client sees (CONVENTIONS §4). */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const unwrapped = unwrapResolverError(error);
  // A failure while the request's context was built (the token check reads the store) comes
  // wrapped without a path.
  const original = unwrapped instanceof GraphQLError && !unwrapped.path && unwrapped.originalError ? unwrapped.originalError : unwrapped;
  const known = original instanceof NetloomError ? original : (constraintViolation(original) ?? storeUnavailable(original));
  const { locations, path } = formatted;
  const where = path?.join('.');
  if (known) {
    logged(known.code, known.message, where);
    return {
      message: known.message,
      locations,
      path,
      extensions: { code: known.code, ...(known.field ? { field: known.field } : {}) },
    };
  }
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && PROTOCOL_CODES.has(code)) {
    logged(code, formatted.message, where);
    return { message: formatted.message, locations, path, extensions: { code } };
  }
  logger.error({ msg: 'GraphQL internal error', code: 'INTERNAL_SERVER_ERROR', path: where, err: original });
  return { message: 'internal error', locations, path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

/** One line per error a client is answered with, its code included (the request's id comes with the context). */
function logged(code: string, message: string, path: string | undefined): void {
  const line = { msg: `GraphQL ${code}: ${message}`, code, path };
  if (code === ErrorCode.Unavailable) logger.warn(line);
  else logger.log(line);
}
