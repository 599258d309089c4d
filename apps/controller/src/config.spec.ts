import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ErrorCode } from '@netloom/model';
import { describeDatabase, loadConfig } from './config';

describe('loadConfig', () => {
  it('has embedded defaults', () => {
    const config = loadConfig([], {});
    expect(config).toMatchObject({ listenHost: '127.0.0.1', port: 8080, bodyLimit: 2 * 1024 * 1024, maxQueryDepth: 12 });
    expect(config.database).toEqual({ kind: 'sqlite', file: `${config.dataDir}/netloom.sqlite` });
  });

  it('takes flags over environment', () => {
    const config = loadConfig(['--port', '9000', '--data-dir=/tmp/x'], { NETLOOM_PORT: '7000', NETLOOM_HOST: '::1' });
    expect(config).toMatchObject({ port: 9000, dataDir: '/tmp/x', database: { kind: 'sqlite', file: '/tmp/x/netloom.sqlite' }, listenHost: '::1' });
  });

  it('reads a --config file below flags and the environment; every option has a flag', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netloom-config-'));
    try {
      const file = join(dir, 'controller.yaml');
      writeFileSync(file, 'port: 9100\nmaxQueryDepth: 5\nhost: 0.0.0.0\nallowInsecureHttp: true\nplugins: [a, b]\nlogLevel: debug\n');
      expect(loadConfig(['--config', file], {})).toMatchObject({ port: 9100, maxQueryDepth: 5, listenHost: '0.0.0.0', allowInsecureHttp: true, plugins: ['a', 'b'], logLevel: 'debug' });
      expect(loadConfig(['--config', file, '--port', '9200', '--allow-insecure-http=false', '--host', '::1'], { NETLOOM_MAX_QUERY_DEPTH: '6' })).toMatchObject({
        port: 9200,
        maxQueryDepth: 6,
        listenHost: '::1',
        allowInsecureHttp: false,
      });
      expect(loadConfig(['--max-query-cost', '10', '--wait-timeout-ms=20', '--log-level', 'warn'], {})).toMatchObject({ maxQueryCost: 10, waitTimeoutMs: 20, logLevel: 'warn' });
      expect(() => loadConfig(['--config', file, '--allow-insecure-http=false'], {})).toThrow(/refusing to serve plain HTTP on 0\.0\.0\.0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves plain HTTP only on loopback unless TLS is given or insecure HTTP allowed', () => {
    for (const host of ['127.0.0.1', '127.3.2.1', '::1', 'localhost']) expect(loadConfig(['--host', host], {}).listenHost).toBe(host);
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'controller.example']) {
      expect(() => loadConfig(['--host', host], {})).toThrow(/refusing to serve plain HTTP/);
    }
    expect(loadConfig(['--host', '0.0.0.0', '--allow-insecure-http'], {})).toMatchObject({ allowInsecureHttp: true, tlsCert: undefined });
    expect(loadConfig(['--host', '0.0.0.0'], { NETLOOM_ALLOW_INSECURE_HTTP: 'true' }).allowInsecureHttp).toBe(true);
    expect(loadConfig(['--host', '0.0.0.0', '--tls-cert', 'c.pem', '--tls-key', 'k.pem'], {})).toMatchObject({
      tlsCert: resolve('c.pem'),
      tlsKey: resolve('k.pem'),
      allowInsecureHttp: false,
    });
  });

  it('keeps audit entries 30 days unless told otherwise (0: for ever)', () => {
    expect(loadConfig([], {}).auditRetentionDays).toBe(30);
    expect(loadConfig(['--audit-retention-days', '7'], { NETLOOM_AUDIT_RETENTION_DAYS: '90' }).auditRetentionDays).toBe(7);
    expect(loadConfig([], { NETLOOM_AUDIT_RETENTION_DAYS: '0' }).auditRetentionDays).toBe(0);
  });

  it('takes an agent socket as an absolute path, none by default', () => {
    expect(loadConfig([], {}).agentSocket).toBeUndefined();
    expect(loadConfig(['--agent-socket', 'run/agents.sock'], {}).agentSocket).toBe(resolve('run/agents.sock'));
    expect(loadConfig([], { NETLOOM_AGENT_SOCKET: '/run/netloom.sock' }).agentSocket).toBe('/run/netloom.sock');
  });

  it('takes a postgres:// or postgresql:// URL as PostgreSQL, anything else as an SQLite file', () => {
    const url = 'postgresql://netloom@/netloom?host=/run/postgresql';
    expect(loadConfig(['--database', url], {}).database).toEqual({ kind: 'postgres', url });
    expect(loadConfig([`--database=${url}`], {}).database).toEqual({ kind: 'postgres', url });
    expect(loadConfig([], { NETLOOM_DATABASE: 'postgres://db.example:5433/nl' }).database).toEqual({ kind: 'postgres', url: 'postgres://db.example:5433/nl' });
    expect(loadConfig(['--database', 'state/nl.sqlite'], {}).database).toEqual({ kind: 'sqlite', file: resolve('state/nl.sqlite') });
    // A file that happens to be named like a scheme is still a file.
    expect(loadConfig(['--database', 'postgres.sqlite'], {}).database).toEqual({ kind: 'sqlite', file: resolve('postgres.sqlite') });
  });

  it('warns about a password on the command line, not in the environment, and never logs it', () => {
    const withPassword = 'postgres://netloom:s3cret@db.example/netloom';
    const flagged = loadConfig(['--database', withPassword], {});
    expect(flagged.warnings).toEqual([expect.stringContaining('NETLOOM_DATABASE')]);
    expect(loadConfig([], { NETLOOM_DATABASE: withPassword }).warnings).toEqual([]);
    expect(describeDatabase(flagged.database)).toBe('postgres://netloom:***@db.example/netloom');
    const inParameter = loadConfig(['--database', 'postgresql://netloom@/nl?host=/run/pg&password=s3cret&sslmode=disable'], {});
    expect(inParameter.warnings).toHaveLength(1);
    expect(describeDatabase(inParameter.database)).toBe('postgresql://netloom@/nl?host=/run/pg&password=***&sslmode=disable');
    expect(loadConfig(['--database', 'postgres://netloom@db.example/netloom'], {}).warnings).toEqual([]);
  });

  it.each([
    [['--bogus', '1']],
    [['--port']],
    [['--port', 'eighty']],
    [['--port', '-1']],
    [['--audit-retention-days', '1.5']],
    [['--audit-retention-days', '-3']],
    [['--agent-socket', '']],
    // sun_path: 107 bytes at most.
    [['--agent-socket', `/${'s'.repeat(107)}`]],
    [['--tls-cert', 'c.pem']],
    [['--tls-key', 'k.pem']],
    [['--log-level', 'verbose']],
    [['--config', '/nonexistent/netloom.yaml']],
  ])('refuses %j', (argv) => {
    expect(() => loadConfig(argv, {})).toThrow(expect.objectContaining({ code: ErrorCode.BadUserInput }));
  });
});
