import pino, { DestinationStream, Logger } from 'pino';
import pretty from 'pino-pretty';
import { z } from 'zod';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The `--log-level` option's values. */
export const logLevel = () => z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` });

export interface LoggerOptions {
  /** The binary (`netloom-agent`): the `name` field of every line. */
  name: string;
  level: LogLevel;
  /** Human lines instead of JSON; default: when stderr is a terminal. */
  pretty?: boolean;
  /** Where lines go; default stderr. */
  destination?: DestinationStream;
}

/**
 * A binary's logger: one JSON object per line on stderr (`level` as a word, `time` in ISO 8601,
 * `msg`), or pino-pretty's human lines when stderr is a terminal. Writes are synchronous, so a line
 * logged right before an exit is not lost.
 */
export function createLogger(options: LoggerOptions): Logger {
  const human = options.pretty ?? process.stderr.isTTY === true;
  const destination =
    options.destination ??
    (human ? pretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' }) : pino.destination({ fd: 2, sync: true }));
  return pino(
    {
      name: options.name,
      level: options.level,
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
