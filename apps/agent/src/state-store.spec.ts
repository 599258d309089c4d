import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { DesiredResource } from '@netloom/model';
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
    expect(JSON.parse(readFileSync(join(dir, 'desired.json'), 'utf8'))).toMatchObject({ revision: 7, resources: [] });
    expect(problems).toEqual([expect.any(String), null]);
    expect(lines.filter((l) => /cannot write/.test(l))).toHaveLength(1);
    store.stop();
  });

  it('writes the applied state at once when its ports changed, within a second when only its revision moved, and what waits on stop', async () => {
    const dir = join(root, 'state');
    const store = new StateStore(dir, { log: () => undefined });
    const onDisk = () => JSON.parse(readFileSync(join(dir, 'applied.json'), 'utf8')) as { revision: number };
    store.writeApplied({ revision: 1, ports: { p1: 'h1' } });
    expect(onDisk().revision).toBe(1);
    store.writeApplied({ revision: 2, ports: { p1: 'h1' } });
    store.writeApplied({ revision: 3, ports: { p1: 'h1' } });
    // Read back at once from memory; on disk within the second.
    expect(store.readApplied().revision).toBe(3);
    expect(onDisk().revision).toBe(1);
    for (let i = 0; i < 100 && onDisk().revision !== 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(onDisk().revision).toBe(3);
    // A port's hash changed: at once.
    store.writeApplied({ revision: 4, ports: { p1: 'h2' } });
    expect(onDisk()).toEqual({ revision: 4, ports: { p1: 'h2' } });
    store.writeApplied({ revision: 5, ports: { p1: 'h2' } });
    store.stop();
    expect(onDisk().revision).toBe(5);
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

  describe('the desired state', () => {
    const r = (id: string, generation = 1): DesiredResource => ({ kind: 'Port', id, generation, spec: { id } });
    const logLines = (dir: string): string[] => (existsSync(join(dir, 'desired.log')) ? readFileSync(join(dir, 'desired.log'), 'utf8').split('\n').filter(Boolean) : []);

    it('logs an update as its change alone, and a restart reads the snapshot with the changes since, in order', () => {
      const dir = join(root, 'state');
      const store = new StateStore(dir, { log: () => undefined });
      store.writeDesired({ revision: 5, resources: [r('a'), r('b'), r('c')] });
      store.changeDesired({ revision: 6, upserts: [r('d')], deletes: [{ kind: 'Port', id: 'b' }] }, { revision: 6, resources: [r('a'), r('c'), r('d')] });
      store.changeDesired({ revision: 7, upserts: [r('a', 2)], deletes: [] }, { revision: 7, resources: [r('a', 2), r('c'), r('d')] });
      store.stop();
      // The snapshot is as it was; the changes are two short lines.
      expect(JSON.parse(readFileSync(join(dir, 'desired.json'), 'utf8'))).toMatchObject({ revision: 5 });
      expect(logLines(dir)).toHaveLength(2);
      expect(mode(join(dir, 'desired.log'))).toBe(0o600);
      expect(new StateStore(dir, { log: () => undefined }).readDesired()).toEqual({ revision: 7, resources: [r('a', 2), r('c'), r('d')] });
    });

    it('skips a line cut short at the end (a write cut by a crash or a full disk)', () => {
      const dir = join(root, 'state');
      const store = new StateStore(dir, { log: () => undefined });
      store.writeDesired({ revision: 1, resources: [r('a')] });
      store.changeDesired({ revision: 2, upserts: [r('b')], deletes: [] }, { revision: 2, resources: [r('a'), r('b')] });
      store.stop();
      appendFileSync(join(dir, 'desired.log'), '{"journal":"x","revision":3,"ups');
      expect(new StateStore(dir, { log: () => undefined }).readDesired()).toEqual({ revision: 2, resources: [r('a'), r('b')] });
    });

    it('voids the lines of an older snapshot, also when a crash left them behind', () => {
      const dir = join(root, 'state');
      const store = new StateStore(dir, { log: () => undefined });
      store.writeDesired({ revision: 1, resources: [r('a')] });
      store.changeDesired({ revision: 2, upserts: [r('b')], deletes: [] }, { revision: 2, resources: [r('a'), r('b')] });
      const old = readFileSync(join(dir, 'desired.log'), 'utf8');
      // A snapshot from the controller replaces everything; its write removes the log.
      store.writeDesired({ revision: 9, resources: [r('z')] });
      expect(existsSync(join(dir, 'desired.log'))).toBe(false);
      store.stop();
      // As if the agent died between the two: the old lines are there, and count for nothing.
      writeFileSync(join(dir, 'desired.log'), old);
      expect(new StateStore(dir, { log: () => undefined }).readDesired()).toEqual({ revision: 9, resources: [r('z')] });
    });

    it('writes the whole state again once changes are quiet for a second, or after many', async () => {
      const dir = join(root, 'state');
      const store = new StateStore(dir, { log: () => undefined });
      store.writeDesired({ revision: 1, resources: [r('a')] });
      const state = { revision: 2, resources: [r('a'), r('b')] };
      store.changeDesired({ revision: 2, upserts: [r('b')], deletes: [] }, state);
      expect(logLines(dir)).toHaveLength(1);
      await new Promise((done) => setTimeout(done, 1_300));
      expect(existsSync(join(dir, 'desired.log'))).toBe(false);
      expect(JSON.parse(readFileSync(join(dir, 'desired.json'), 'utf8'))).toMatchObject(state);
      let resources = state.resources;
      for (let i = 0; i < 600; i++) {
        resources = [...resources, r(`p${i}`)];
        store.changeDesired({ revision: 3 + i, upserts: [r(`p${i}`)], deletes: [] }, { revision: 3 + i, resources });
        expect(logLines(dir).length).toBeLessThanOrEqual(500);
      }
      store.stop();
      expect(new StateStore(dir, { log: () => undefined }).readDesired()).toEqual({ revision: 602, resources });
    });

    it('writes the state whole when a change cannot be logged', () => {
      const dir = join(root, 'state');
      const store = new StateStore(dir, { log: () => undefined });
      store.writeDesired({ revision: 1, resources: [r('a')] });
      mkdirSync(join(dir, 'desired.log'));
      store.changeDesired({ revision: 2, upserts: [r('b')], deletes: [] }, { revision: 2, resources: [r('a'), r('b')] });
      expect(store.problem).toBeNull();
      expect(JSON.parse(readFileSync(join(dir, 'desired.json'), 'utf8'))).toMatchObject({ revision: 2, resources: [r('a'), r('b')] });
      store.stop();
      expect(new StateStore(dir, { log: () => undefined }).readDesired()).toEqual({ revision: 2, resources: [r('a'), r('b')] });
    });
  });
});
