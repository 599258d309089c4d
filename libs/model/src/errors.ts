/**
 * Error codes shared by the controller, the agent and plugins. One place (the controller's
 * GraphQL error formatter) maps them to GraphQL `extensions.code`; the names already are the
 * GraphQL ones so a client sees exactly these strings.
 */
export enum ErrorCode {
  BadUserInput = 'BAD_USER_INPUT',
  NotFound = 'NOT_FOUND',
  Conflict = 'CONFLICT',
  Unauthenticated = 'UNAUTHENTICATED',
  Forbidden = 'FORBIDDEN',
  /** The change was committed, but a host reported it could not apply it. */
  RealizationFailed = 'REALIZATION_FAILED',
  /** The change was committed, but not every host applied it before the wait timed out. */
  RealizationTimeout = 'REALIZATION_TIMEOUT',
  /** The store could not take the change (disk full, busy, I/O error): nothing was written; retry later. */
  Unavailable = 'UNAVAILABLE',
  /** A query (or one subscription event) ran longer than the controller's request time limit. */
  QueryTimeout = 'QUERY_TIMEOUT',
  /** A websocket already carries as many subscriptions, or as much subscription cost, as allowed. */
  SubscriptionLimit = 'SUBSCRIPTION_LIMIT',
}

/** A failure the caller can act on: bad input, a missing object, a conflict, missing rights. */
export class NetloomError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Which input field is at fault, as a dotted path (e.g. `input.fixedIps.0.ipAddress`). */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'NetloomError';
  }
}

export const badInput = (message: string, field?: string): NetloomError =>
  new NetloomError(ErrorCode.BadUserInput, message, field);
export const notFound = (message: string, field?: string): NetloomError =>
  new NetloomError(ErrorCode.NotFound, message, field);
export const conflict = (message: string, field?: string): NetloomError =>
  new NetloomError(ErrorCode.Conflict, message, field);
