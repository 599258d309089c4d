import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError } from '../errors';
import { configPath, readConfig, resolveTarget, tooOpen, useContext, withContext, writeConfig, type CliConfig } from './contexts';

describe('the contexts file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'netloom-cli-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const prod = { name: 'prod', url: 'https://ctl.example:8080/graphql', token: 'nlt_prod', ca: '/etc/ca.pem' };
  const lab = { name: 'lab', url: 'http://127.0.0.1:8080/graphql', token: 'nlt_lab' };

  it('is $NETLOOM_CONTEXTS, else config.yaml under XDG_CONFIG_HOME or ~/.config', () => {
    expect(configPath({ NETLOOM_CONTEXTS: '/x/c.yaml' })).toBe('/x/c.yaml');
    expect(configPath({ XDG_CONFIG_HOME: '/xdg' })).toBe('/xdg/netloom/config.yaml');
    expect(configPath({})).toMatch(/\/\.config\/netloom\/config\.yaml$/);
  });

  it('is written 0600 in a directory made 0700, and read back', () => {
    const path = join(dir, 'new', 'netloom', 'config.yaml');
    const config = withContext(withContext({ contexts: [] }, prod), lab);
    writeConfig(path, config);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'new', 'netloom')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'new')).mode & 0o777).toBe(0o700);
    expect(tooOpen(path)).toBe(false);
    expect(readConfig(path)).toEqual({ currentContext: 'lab', contexts: [prod, lab] });
  });

  it('tightens a file that was readable by others when it rewrites it', () => {
    const path = join(dir, 'config.yaml');
    writeFileSync(path, 'contexts: []\n', { mode: 0o644 });
    chmodSync(path, 0o644);
    expect(tooOpen(path)).toBe(true);
    writeConfig(path, withContext(readConfig(path), lab));
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('is empty when missing, and an error naming the file when malformed', () => {
    expect(readConfig(join(dir, 'none.yaml'))).toEqual({ contexts: [] });
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'contexts: [ {');
    expect(() => readConfig(bad)).toThrow(new RegExp(`${bad} is not valid YAML`));
    writeFileSync(bad, 'contexts:\n  - name: x\n    url: not a url\n    token: t\n');
    expect(() => readConfig(bad)).toThrow(/is not a netloom config/);
  });

  it('replaces a context of the same name, and switches only to a known one', () => {
    let config: CliConfig = withContext(withContext({ contexts: [] }, prod), lab);
    config = withContext(config, { ...prod, token: 'nlt_new' });
    expect(config.contexts.map((c) => [c.name, c.token])).toEqual([
      ['lab', 'nlt_lab'],
      ['prod', 'nlt_new'],
    ]);
    expect(useContext(config, 'lab').currentContext).toBe('lab');
    expect(() => useContext(config, 'nope')).toThrow(CliError);
  });

  describe('resolveTarget', () => {
    const config: CliConfig = { currentContext: 'lab', contexts: [prod, lab] };

    it('takes the current context, or the one --context names', () => {
      expect(resolveTarget(config, undefined, {})).toEqual({ url: lab.url, token: lab.token, ca: undefined, context: 'lab' });
      expect(resolveTarget(config, 'prod', {})).toEqual({ url: prod.url, token: prod.token, ca: prod.ca, context: 'prod' });
      expect(() => resolveTarget(config, 'nope', {})).toThrow(/no context named "nope"/);
    });

    it('lets NETLOOM_URL and NETLOOM_TOKEN override the context, and stand alone', () => {
      expect(resolveTarget(config, undefined, { NETLOOM_TOKEN: 'nlt_env' })).toMatchObject({ url: lab.url, token: 'nlt_env' });
      expect(resolveTarget(config, 'prod', { NETLOOM_URL: 'http://other/graphql' })).toMatchObject({ url: 'http://other/graphql', token: prod.token });
      expect(resolveTarget({ contexts: [] }, undefined, { NETLOOM_URL: 'http://x/graphql', NETLOOM_TOKEN: 't' })).toEqual({
        url: 'http://x/graphql',
        token: 't',
        ca: undefined,
        context: undefined,
      });
    });

    it('says how to log in when there is nothing to talk to', () => {
      expect(() => resolveTarget({ contexts: [] }, undefined, {})).toThrow(/netloom login/);
      expect(() => resolveTarget({ contexts: [] }, undefined, { NETLOOM_URL: 'http://x' })).toThrow(/NETLOOM_TOKEN/);
    });
  });
});
