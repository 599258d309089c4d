export { CliExit, ConfigError, flagName, helpText, option, parseOptions, where, type CliSpec, type OptionMeta, type ParsedOptions, type Source } from './options';
export { checkedBy, list, onOff, text, wholeNumber } from './fields';
export { exitOnStartError } from './exit';
export { createLogger, LOG_LEVELS, logLevel, type LoggerOptions, type LogLevel } from './logger';
