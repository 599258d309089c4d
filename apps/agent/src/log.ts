import type { Logger } from 'pino';

/** What a line carries besides its message (revision, counts, resource ids); `level` picks its level (default info). */
export interface LogFields {
  level?: 'debug' | 'info' | 'warn' | 'error';
  [field: string]: unknown;
}

/** One line of the agent's log. */
export type Log = (msg: string, fields?: LogFields) => void;

/** A Log writing to `logger()`, read at each line: fields bound later (the host id, once known) show on every line after. */
export function pinoLog(logger: () => Logger): Log {
  return (msg, fields = {}) => {
    const { level = 'info', ...rest } = fields;
    logger()[level](rest, msg);
  };
}
