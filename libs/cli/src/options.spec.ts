import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { list, onOff, text, wholeNumber } from './fields';
import { logLevel } from './logger';
import { CliExit, type CliSpec, ConfigError, helpText, option, parseOptions } from './options';

const SCHEMA = z.object({
  port: option(wholeNumber().default(8080), { description: 'port to listen on', value: 'PORT' }),
  host: option(text().default('127.0.0.1'), { description: 'address', value: 'ADDRESS' }),
  name: option(text().optional(), { description: 'a name', value: 'NAME', env: 'NETLOOM_HOST_NAME' }),
  peer: option(list().default([]), { description: 'peers', value: 'URL' }),
  verbose: option(onOff().default(false), { description: 'say more' }),
  token: option(text().optional(), { description: 'a secret', value: 'TOKEN', secret: true }),
  tokenFile: option(text().optional(), { description: 'a file of the secret', value: 'FILE' }),
  logLevel: option(logLevel().default('info'), { description: 'level', value: 'LEVEL' }),
});
const SPEC: CliSpec<typeof SCHEMA> = { name: 'netloom-test', version: '9.8.7', description: 'a test binary', schema: SCHEMA, alternatives: [['token', 'tokenFile']] };

describe('parseOptions', () => {
  let dir = '';
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'netloom-cli-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseOptions(SPEC, argv, env);
  const refusal = (argv: string[], env: NodeJS.ProcessEnv = {}): string => {
    try {
      parse(argv, env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toContain('\n');
      return (error as Error).message;
    }
    throw new Error(`${argv.join(' ')} was accepted`);
  };

  it('takes the defaults when nothing is given, and says no option came from anywhere', () => {
    expect(parse([])).toEqual({ values: { port: 8080, host: '127.0.0.1', peer: [], verbose: false, logLevel: 'info' }, sources: {} });
  });

  it('takes a flag over the environment, the environment over the file, the file over the default', () => {
    const config = file('all.yaml', 'port: 1000\nhost: 10.0.0.1\nname: from-file\nverbose: true\n');
    const env = { NETLOOM_CONFIG: config, NETLOOM_PORT: '2000', NETLOOM_HOST: '10.0.0.2' };
    const { values, sources } = parse(['--port=3000'], env);
    expect(values).toMatchObject({ port: 3000, host: '10.0.0.2', name: 'from-file', verbose: true, logLevel: 'info' });
    expect(sources).toEqual({ port: 'flag', host: 'env', name: 'file', verbose: 'file' });
    // --config wins over NETLOOM_CONFIG; an empty variable counts as unset.
    const other = file('other.json', JSON.stringify({ port: 4000, peer: ['http://a', 'http://b'] }));
    expect(parse(['--config', other], { ...env, NETLOOM_PORT: '' }).values).toMatchObject({ port: 4000, host: '10.0.0.2', peer: ['http://a', 'http://b'] });
  });

  it('reads an explicit environment name, switches and lists from text', () => {
    const { values } = parse([], { NETLOOM_HOST_NAME: 'h1', NETLOOM_VERBOSE: '1', NETLOOM_PEER: 'http://a, http://b' });
    expect(values).toMatchObject({ name: 'h1', verbose: true, peer: ['http://a', 'http://b'] });
    expect(parse(['--peer', 'x', '--peer=y,z', '--verbose']).values).toMatchObject({ peer: ['x', 'y', 'z'], verbose: true });
    expect(parse(['--verbose=false'], { NETLOOM_VERBOSE: 'true' }).values.verbose).toBe(false);
    expect(parse(['--verbose', '--port', '1']).values).toMatchObject({ verbose: true, port: 1 });
  });

  it('takes alternatives from the highest source giving either, and refuses both in one source', () => {
    const tokenFile = file('alt.yaml', 'token: from-file\n');
    expect(parse(['--token-file', '/t'], { NETLOOM_CONFIG: tokenFile }).values).toMatchObject({ tokenFile: '/t' });
    expect(parse(['--token-file', '/t'], { NETLOOM_CONFIG: tokenFile }).values.token).toBeUndefined();
    expect(parse([], { NETLOOM_CONFIG: tokenFile, NETLOOM_TOKEN_FILE: '/e' }).sources).toEqual({ tokenFile: 'env' });
    expect(refusal(['--token', 'a', '--token-file', '/t'])).toBe('--token and --token-file say the same thing: give it once');
  });

  it('names the option as it was given, with the value unless it is secret', () => {
    expect(refusal(['--port', 'eighty'])).toBe('--port: must be a whole number (0 or more), got "eighty"');
    expect(refusal([], { NETLOOM_PORT: '-1' })).toBe('NETLOOM_PORT: must be a whole number (0 or more), got "-1"');
    const bad = file('bad-port.yaml', 'port: 1.5\n');
    expect(refusal(['--config', bad])).toBe(`port in ${bad}: must be a whole number (0 or more), got 1.5`);
    expect(refusal(['--token', ''])).toBe('--token: must not be empty');
    expect(refusal(['--log-level', 'loud'])).toBe('--log-level: must be one of trace, debug, info, warn, error, got "loud"');
    expect(refusal([], { NETLOOM_VERBOSE: 'yes' })).toMatch(/^NETLOOM_VERBOSE: must be true or false/);
    expect(refusal(['--bogus'])).toBe("unknown option '--bogus' (see --help)");
    expect(refusal(['--port'])).toBe("option '--port <PORT>' argument missing (see --help)");
    expect(refusal(['stray'])).toMatch(/too many arguments/);
  });

  it('refuses a config file it cannot use, saying why', () => {
    expect(refusal(['--config', join(dir, 'none.yaml')])).toMatch(/^--config: cannot read .*none\.yaml: ENOENT/);
    expect(refusal(['--config', file('list.yaml', '- a\n- b\n')])).toMatch(/must hold a mapping/);
    expect(refusal(['--config', file('typo.yaml', 'prot: 1\n')])).toMatch(/unknown option prot; known: port, host/);
    expect(refusal(['--config', file('broken.json', '{"port": ')])).toMatch(/is not YAML or JSON/);
    expect(parse(['--config', file('empty.yaml', '')]).values.port).toBe(8080);
  });

  it('answers --help and --version with exit code 0', () => {
    expect(() => parse(['--help'])).toThrow(expect.objectContaining({ code: 0, output: expect.stringContaining('Usage: netloom-test') }));
    expect(() => parse(['--version'])).toThrow(new CliExit(0, '9.8.7\n'));
  });

  it('documents every option with its environment variable and default', () => {
    const help = helpText(SPEC).replace(/\s+/g, ' ');
    for (const [flag, env] of [
      ['--port <PORT>', 'NETLOOM_PORT; default: 8080'],
      ['--name <NAME>', 'NETLOOM_HOST_NAME'],
      ['--peer <URL>', 'NETLOOM_PEER; default: none; repeatable, or comma-separated'],
      ['--verbose [true|false]', 'NETLOOM_VERBOSE; default: false'],
      ['--token-file <FILE>', 'NETLOOM_TOKEN_FILE'],
      ['--log-level <LEVEL>', 'NETLOOM_LOG_LEVEL; default: info'],
      ['--config <FILE>', 'NETLOOM_CONFIG'],
    ]) {
      expect(help).toContain(flag);
      expect(help).toContain(`env: ${env}`);
    }
  });
});
