import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** What the help text says of one option; flag and environment names derive from its key. */
export interface OptionMeta {
  description: string;
  /** The value's placeholder in the help text (`--port PORT`); switches have none. */
  value?: string;
  /** The environment variable, when it is not `NETLOOM_` + the key in CONSTANT_CASE. */
  env?: string;
  /** How the help text shows the default, when the schema's default does not say it (or there is none). */
  defaultText?: string;
  /** Never echo the value in an error (a token, a URL with a password). */
  secret?: boolean;
}

const OPTIONS = z.registry<OptionMeta, z.ZodType>();

/** One option of a binary: a zod schema (with its default) and its help. */
export function option<T extends z.ZodType>(schema: T, meta: OptionMeta): T {
  OPTIONS.add(schema, meta);
  return schema;
}

/** Where a value came from, highest precedence first. */
export type Source = 'flag' | 'env' | 'file';

export interface CliSpec<S extends z.ZodObject> {
  /** The binary's name (`netloom-controller`), in the help text and errors. */
  name: string;
  version: string;
  description: string;
  schema: S;
  /**
   * Options that say one thing two ways (a token, or the file holding it): at most one per
   * source, and the highest source giving any of them replaces the others' values.
   */
  alternatives?: (keyof z.input<S> & string)[][];
}

export interface ParsedOptions<T> {
  values: T;
  /** Where each value given came from; absent: the default. */
  sources: Partial<Record<keyof T, Source>>;
}

/** A configuration the binary refuses: one line naming the option. */
export class ConfigError extends Error {}

/** `--help` or `--version`: print `output` to stdout and exit with `code` (0). */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    readonly output: string,
  ) {
    super(output);
  }
}

const CONFIG_ENV = 'NETLOOM_CONFIG';

/**
 * Options from flags, then the environment (`NETLOOM_*`), then the file given by `--config`
 * (YAML or JSON, keys as the options' camelCase names), then the schema's defaults; each value is
 * checked by the schema. Throws ConfigError, or CliExit for `--help` and `--version`.
 */
export function parseOptions<S extends z.ZodObject>(spec: CliSpec<S>, argv: readonly string[], env: NodeJS.ProcessEnv): ParsedOptions<z.output<S>> {
  const keys = Object.keys(spec.schema.shape);
  const program = buildProgram(spec);
  let output = '';
  program.configureOutput({ writeOut: (text) => (output += text), writeErr: (text) => (output += text) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) throw new CliExit(0, output);
    throw new ConfigError(`${error.message.replace(/^error: /, '')} (see --help)`);
  }
  const given = program.opts<Record<string, unknown>>();
  const layers: Record<Source, Record<string, unknown>> = { flag: {}, env: {}, file: {} };
  for (const key of keys) {
    if (program.getOptionValueSource(key) === 'cli') layers.flag[key] = given[key];
    const text = env[envName(spec, key)];
    if (text !== undefined && text !== '') layers.env[key] = text;
  }
  const file = (given.config as string | undefined) ?? (env[CONFIG_ENV] || undefined);
  if (file !== undefined) layers.file = readConfigFile(file, keys);
  const values: Record<string, unknown> = {};
  const sources: Record<string, Source> = {};
  for (const source of ['file', 'env', 'flag'] as const) {
    const layer = layers[source];
    for (const group of spec.alternatives ?? []) {
      const here = group.filter((key) => layer[key] !== undefined);
      if (here.length > 1) throw new ConfigError(`${here.map((key) => where(spec, key, source, file)).join(' and ')} say the same thing: give it once`);
      if (!here.length) continue;
      for (const key of group) {
        delete values[key];
        delete sources[key];
      }
    }
    for (const [key, value] of Object.entries(layer)) {
      values[key] = value;
      sources[key] = source;
    }
  }
  const parsed = spec.schema.safeParse(values);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const source = sources[key];
      const name = source ? where(spec, key, source, file) : `${flagName(key)} (default)`;
      const secret = OPTIONS.get(spec.schema.shape[key])?.secret;
      const got = source && !secret && isScalar(values[key]) ? `, got ${JSON.stringify(values[key])}` : '';
      return `${name}: ${issue.message}${got}`;
    });
    throw new ConfigError(problems.join('; '));
  }
  return { values: parsed.data, sources: sources as ParsedOptions<z.output<S>>['sources'] };
}

/** The `--help` text, as `--help` prints it. */
export function helpText<S extends z.ZodObject>(spec: CliSpec<S>): string {
  return buildProgram(spec).helpInformation();
}

/** The option's name as the operator gave it: `--port`, `NETLOOM_PORT`, or `port in FILE`. */
export function where<S extends z.ZodObject>(spec: CliSpec<S>, key: string, source: Source, file?: string): string {
  if (source === 'flag') return flagName(key);
  if (source === 'env') return envName(spec, key);
  return `${key} in ${file ?? 'the config file'}`;
}

export const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function envName<S extends z.ZodObject>(spec: CliSpec<S>, key: string): string {
  return OPTIONS.get(spec.schema.shape[key])?.env ?? `NETLOOM_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

const isScalar = (value: unknown): boolean => ['string', 'number', 'boolean'].includes(typeof value);

function buildProgram<S extends z.ZodObject>(spec: CliSpec<S>): Command {
  const program = new Command(spec.name)
    .description(spec.description)
    .version(spec.version, '-V, --version')
    .helpOption('-h, --help', 'show this help and exit')
    .allowExcessArguments(false)
    .exitOverride();
  program.addOption(new Option('--config <FILE>', `a YAML or JSON file of options, keys as the camelCase option names [env: ${CONFIG_ENV}]`));
  for (const [key, field] of Object.entries(spec.schema.shape) as [string, z.ZodType][]) {
    const meta = OPTIONS.get(field);
    if (!meta) throw new Error(`option ${key} of ${spec.name} has no help (wrap it in option())`);
    const kind = valueKind(field);
    // A switch alone is true; `--switch=false` overrides a true from the environment or the file.
    const flag = kind === 'switch' ? `${flagName(key)} [true|false]` : `${flagName(key)} <${meta.value ?? 'VALUE'}>`;
    const shown = meta.defaultText ?? defaultOf(field);
    const extras = [`env: ${envName(spec, key)}`, ...(shown === undefined ? [] : [`default: ${shown}`]), ...(kind === 'list' ? ['repeatable, or comma-separated'] : [])];
    const opt = new Option(flag, `${meta.description} [${extras.join('; ')}]`);
    if (kind === 'list') opt.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    program.addOption(opt);
  }
  program.addHelpText(
    'after',
    `\nEach option may also come from its environment variable or from the --config file; a flag wins over the environment, the environment over the file, the file over the default. Paths are taken from the working directory.`,
  );
  return program;
}

/** What the value of a field looks like on the command line: a switch (boolean), a list (array), or one value. */
function valueKind(field: z.ZodType): 'switch' | 'list' | 'value' {
  const inner = innermost(field);
  if (inner instanceof z.ZodBoolean) return 'switch';
  if (inner instanceof z.ZodArray) return 'list';
  return 'value';
}

function innermost(field: z.ZodType): z.ZodType {
  if (field instanceof z.ZodDefault || field instanceof z.ZodOptional) return innermost(field.unwrap() as z.ZodType);
  if (field instanceof z.ZodPipe) return innermost((field.out instanceof z.ZodTransform ? field.in : field.out) as z.ZodType);
  return field;
}

function defaultOf(field: z.ZodType): string | undefined {
  if (!(field instanceof z.ZodDefault)) return undefined;
  const value: unknown = field.def.defaultValue;
  if (Array.isArray(value)) return value.length ? value.join(',') : 'none';
  return String(value);
}

function readConfigFile(path: string, keys: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--config: cannot read ${path}: ${(error as Error).message}`);
  }
  let content: unknown;
  try {
    content = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`--config: ${path} is not YAML or JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  if (content === null || content === undefined) return {};
  if (typeof content !== 'object' || Array.isArray(content)) throw new ConfigError(`--config: ${path} must hold a mapping of option names to values`);
  const unknown = Object.keys(content).filter((key) => !keys.includes(key));
  if (unknown.length) throw new ConfigError(`--config: ${path}: unknown option ${unknown.join(', ')}; known: ${keys.join(', ')}`);
  return Object.fromEntries(Object.entries(content).filter(([, value]) => value !== null && value !== undefined));
}
