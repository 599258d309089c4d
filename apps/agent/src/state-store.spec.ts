import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from './state-store';

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('StateStore', () => {
  let root = '';
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'netloom-state-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('makes the dir 0700 and its files 0600, tightening what is looser and removing stale temporary files', () => {
    const dir = join(root, 'state');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'credential.json'), '{"credential":"nlh_x"}', { mode: 0o644 });
    writeFileSync(join(dir, 'desired.json.123.tmp'), 'partial');
    writeFileSync(join(dir, 'notes.txt'), 'not ours', { mode: 0o644 });
    const lines: string[] = [];
    const store = new StateStore(dir, { log: (line) => lines.push(line) });
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'credential.json'))).toBe(0o600);
    expect(mode(join(dir, 'notes.txt'))).toBe(0o644);
    expect(() => statSync(join(dir, 'desired.json.123.tmp'))).toThrow(/ENOENT/);
    expect(lines).toEqual([expect.stringMatching(/tightened \., credential\.json/)]);
    store.writeApplied({ revision: 3, ports: {} });
    expect(mode(join(dir, 'applied.json'))).toBe(0o600);
  });

  it('keeps a value it cannot write, reads it back, reports why, and writes it once it can', async () => {
    const dir = join(root, 'state');
    const lines: string[] = [];
    const problems: (string | null)[] = [];
    const store = new StateStore(dir, { log: (line) => lines.push(line), retryMs: 20 });
    store.onProblem = (problem) => problems.push(problem);
    // A directory where the file should be: every write fails until it goes.
    mkdirSync(join(dir, 'desired.json'));
    expect(() => store.writeDesired({ revision: 7, resources: [] })).not.toThrow();
    expect(store.readDesired()).toEqual({ revision: 7, resources: [] });
    expect(store.problem).toMatch(/cannot write .*desired\.json/);
    expect(problems).toHaveLength(1);
    rmSync(join(dir, 'desired.json'), { recursive: true });
    for (let i = 0; i < 100 && store.problem; i++) await new Promise((r) => setTimeout(r, 20));
    expect(store.problem).toBeNull();
    expect(JSON.parse(readFileSync(join(dir, 'desired.json'), 'utf8'))).toEqual({ revision: 7, resources: [] });
    expect(problems).toEqual([expect.any(String), null]);
    expect(lines.filter((l) => /cannot write/.test(l))).toHaveLength(1);
    store.stop();
  });

  it('writes the credential at once or throws', () => {
    const dir = join(root, 'state');
    const store = new StateStore(dir, { log: () => undefined });
    mkdirSync(join(dir, 'credential.json'));
    expect(() => store.writeCredentialNow({ credential: 'nlh_x' })).toThrow();
    expect(store.readCredential()).toBeNull();
    rmSync(join(dir, 'credential.json'), { recursive: true });
    store.writeCredentialNow({ credential: 'nlh_x' });
    expect(JSON.parse(readFileSync(join(dir, 'credential.json'), 'utf8'))).toEqual({ credential: 'nlh_x' });
  });
});
