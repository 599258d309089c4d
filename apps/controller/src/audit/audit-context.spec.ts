import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ENTITIES } from '../database/database.module';
import { Host } from '../hosts/host.entity';
import { auditState, SECRET_COLUMNS } from './audit-context';

describe('audit states', () => {
  const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: ENTITIES });
  beforeAll(() => dataSource.initialize());
  afterAll(() => dataSource.destroy());

  it('knows every column that may hold a secret, and nothing it lists has gone', () => {
    const columns = dataSource.entityMetadatas.flatMap((m) => m.columns.map((c) => `${m.tableName}.${c.databaseName}`));
    expect(columns.filter((name) => /hash|secret|password|credential/i.test(name)).sort()).toEqual([...SECRET_COLUMNS].sort());
  });

  it('keeps the stored row by property, without the secrets', () => {
    const host = dataSource.manager.create(Host, {
      id: '019aa2b0-0000-7000-8000-000000000001',
      name: 'h1',
      labels: [{ key: 'zone', value: 'a' }],
      generation: 2,
      createdAt: new Date('2026-12-01T10:00:00.000Z'),
      updatedAt: new Date('2026-12-02T10:00:00.000Z'),
      vtepAddress: '192.0.2.1',
      underlayMtu: 1500,
      joinTokenHash: 'f'.repeat(64),
      joinTokenUsedAt: null,
    });
    const state = auditState(dataSource.manager, host);
    expect(state.name).toBe('h1');
    expect(JSON.parse(state.row)).toEqual({
      id: host.id,
      name: 'h1',
      labels: [{ key: 'zone', value: 'a' }],
      generation: 2,
      createdAt: '2026-12-01T10:00:00.000Z',
      updatedAt: '2026-12-02T10:00:00.000Z',
      vtepAddress: '192.0.2.1',
      underlayMtu: 1500,
      joinTokenUsedAt: null,
    });
    expect(state.row).not.toContain('f'.repeat(64));
  });
});
