import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from './config';

describe('loadAgentConfig', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'netloom-agent-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['BAD', 'toolong', '1ab', 'n-l', ''])('refuses the prefix %p before anything else happens', (prefix) => {
    expect(() => loadAgentConfig(['--prefix', prefix, '--join-token', 'nlj_x'], {})).toThrow(/invalid prefix|needs a value/);
  });

  it('takes provider mappings from repeated flags, commas or the environment', () => {
    const eth = { physicalNetwork: 'physnet1', interface: 'eth1' };
    const bond = { physicalNetwork: 'physnet2', interface: 'bond0.7' };
    expect(loadAgentConfig(['--provider-mapping', 'physnet2:bond0.7', '--provider-mapping', 'physnet1:eth1'], {}).providerMappings).toEqual([eth, bond]);
    expect(loadAgentConfig(['--provider-mapping', 'physnet1:eth1,physnet2:bond0.7'], {}).providerMappings).toEqual([eth, bond]);
    expect(loadAgentConfig([], { NETLOOM_PROVIDER_MAPPING: 'physnet1:eth1' }).providerMappings).toEqual([eth]);
    expect(loadAgentConfig([], {}).providerMappings).toEqual([]);
  });

  it.each([['physnet1'], ['physnet1:eth1;reboot'], ['physnet1:$(x)'], ['physnet1:an-interface-too-long'], ['physnet1:eth1,physnet1:eth2'], ['p1:eth1,p2:eth1']])(
    'refuses the provider mapping %p, naming the option',
    (value) => {
      expect(() => loadAgentConfig(['--provider-mapping', value], {})).toThrow(/--provider-mapping/);
    },
  );

  it('reads the join token from a file, trimmed', () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'nlj_fromfile\n');
    expect(loadAgentConfig(['--join-token-file', file], {})).toMatchObject({ joinToken: 'nlj_fromfile', warnings: [] });
    expect(loadAgentConfig([], { NETLOOM_JOIN_TOKEN_FILE: file })).toMatchObject({ joinToken: 'nlj_fromfile' });
  });

  it('takes the join token from the environment; a flag of either form replaces it', () => {
    const file = join(dir, 'token2');
    writeFileSync(file, 'nlj_file');
    expect(loadAgentConfig([], { NETLOOM_JOIN_TOKEN: 'nlj_env' })).toMatchObject({ joinToken: 'nlj_env', warnings: [] });
    expect(loadAgentConfig(['--join-token-file', file], { NETLOOM_JOIN_TOKEN: 'nlj_env' }).joinToken).toBe('nlj_file');
    expect(loadAgentConfig(['--join-token', 'nlj_flag'], { NETLOOM_JOIN_TOKEN_FILE: file }).joinToken).toBe('nlj_flag');
  });

  it('warns when the token is on the command line', () => {
    expect(loadAgentConfig(['--join-token', 'nlj_flag'], {}).warnings).toEqual([expect.stringMatching(/ps/)]);
  });

  it('takes one controller address as before, and the default', () => {
    expect(loadAgentConfig(['--controller', 'http://127.0.0.1:9000/'], {}).controllers).toEqual(['http://127.0.0.1:9000']);
    expect(loadAgentConfig([], { NETLOOM_CONTROLLER: 'unix:/run/c.sock' }).controllers).toEqual(['unix:/run/c.sock']);
    expect(loadAgentConfig([], {}).controllers).toEqual(['http://127.0.0.1:8080']);
  });

  it('takes several controllers: the flag repeated or comma-separated, the environment comma-separated; flags replace the environment', () => {
    const env = { NETLOOM_CONTROLLER: 'http://127.0.0.1:1, unix:/run/b.sock' };
    expect(loadAgentConfig([], env).controllers).toEqual(['http://127.0.0.1:1', 'unix:/run/b.sock']);
    expect(loadAgentConfig(['--controller', 'unix:/run/a.sock', '--controller=http://localhost:2,http://[::1]:3/'], env).controllers).toEqual([
      'unix:/run/a.sock',
      'http://localhost:2',
      'http://[::1]:3',
    ]);
  });

  it('checks every controller address: form, plain http off this machine (unless allowed), duplicates, empty entries', () => {
    expect(() => loadAgentConfig(['--controller', 'unix:/run/a.sock', '--controller', 'ftp://x'], {})).toThrow(/http\(s\) URL or unix/);
    expect(() => loadAgentConfig(['--controller', 'https://c1.example,http://c2.example'], {})).toThrow(/refusing plain http to c2\.example/);
    expect(loadAgentConfig(['--controller', 'https://c1.example,http://c2.example', '--allow-insecure-http'], {}).controllers).toHaveLength(2);
    expect(() => loadAgentConfig(['--controller', 'unix:/run/a.sock', '--controller', 'unix:/run/a.sock/'], {})).toThrow(/unix:\/run\/a\.sock is given twice/);
    expect(() => loadAgentConfig(['--controller', 'unix:/run/a.sock,,unix:/run/b.sock'], {})).toThrow(/empty address/);
    expect(() => loadAgentConfig([], { NETLOOM_CONTROLLER: 'unix:/run/a.sock,' })).toThrow(/empty address/);
  });

  it('takes a metrics address (off by default, checked) and a log level', () => {
    expect(loadAgentConfig([], {})).toMatchObject({ metricsAddress: undefined, logLevel: 'info' });
    expect(loadAgentConfig(['--metrics-address', '127.0.0.1:0', '--log-level=debug'], {})).toMatchObject({ metricsAddress: { host: '127.0.0.1', port: 0 }, logLevel: 'debug' });
    expect(loadAgentConfig([], { NETLOOM_METRICS_ADDRESS: '[::1]:9101', NETLOOM_LOG_LEVEL: 'warn' })).toMatchObject({ metricsAddress: { host: '::1', port: 9101 }, logLevel: 'warn' });
    expect(loadAgentConfig(['--metrics-address=[::1]:9464'], { NETLOOM_METRICS_ADDRESS: '0.0.0.0:1' }).metricsAddress).toEqual({ host: '::1', port: 9464 });
    expect(() => loadAgentConfig(['--metrics-address', '9101'], {})).toThrow(/^--metrics-address: expected HOST:PORT/);
    expect(() => loadAgentConfig(['--metrics-address', 'localhost:70000'], {})).toThrow(/^--metrics-address: expected HOST:PORT/);
  });

  it('refuses two forms of the token at once, a missing file, and a file that holds more than a token', () => {
    const file = join(dir, 'token3');
    writeFileSync(file, 'nlj_a nlj_b');
    expect(() => loadAgentConfig(['--join-token', 'nlj_x', '--join-token-file', file], {})).toThrow(/once/);
    expect(() => loadAgentConfig(['--join-token-file', join(dir, 'none')], {})).toThrow(/cannot read the join token file/);
    expect(() => loadAgentConfig(['--join-token-file', file], {})).toThrow(/token alone/);
    writeFileSync(file, '\n');
    expect(() => loadAgentConfig(['--join-token-file', file], {})).toThrow(/token alone/);
  });
});
