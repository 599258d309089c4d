import { resolve } from 'node:path';
import { ErrorCode } from '@netloom/model';
import { loadConfig } from './config';

describe('loadConfig', () => {
  it('has embedded defaults', () => {
    const config = loadConfig([], {});
    expect(config).toMatchObject({ listenHost: '127.0.0.1', port: 8080, bodyLimit: 2 * 1024 * 1024, maxQueryDepth: 12 });
    expect(config.databaseFile).toBe(`${config.dataDir}/netloom.sqlite`);
  });

  it('takes flags over environment', () => {
    const config = loadConfig(['--port', '9000', '--data-dir=/tmp/x'], { NETLOOM_PORT: '7000', NETLOOM_HOST: '0.0.0.0' });
    expect(config).toMatchObject({ port: 9000, dataDir: '/tmp/x', databaseFile: '/tmp/x/netloom.sqlite', listenHost: '0.0.0.0' });
  });

  it('takes an agent socket as an absolute path, none by default', () => {
    expect(loadConfig([], {}).agentSocket).toBeUndefined();
    expect(loadConfig(['--agent-socket', 'run/agents.sock'], {}).agentSocket).toBe(resolve('run/agents.sock'));
    expect(loadConfig([], { NETLOOM_AGENT_SOCKET: '/run/netloom.sock' }).agentSocket).toBe('/run/netloom.sock');
  });

  it.each([
    [['--bogus', '1']],
    [['--port']],
    [['--port', 'eighty']],
    [['--port', '-1']],
    [['--agent-socket', '']],
    // sun_path: 107 bytes at most.
    [['--agent-socket', `/${'s'.repeat(107)}`]],
  ])('refuses %j', (argv) => {
    expect(() => loadConfig(argv, {})).toThrow(expect.objectContaining({ code: ErrorCode.BadUserInput }));
  });
});
