import { MigrationInterface, QueryRunner, Table, TableColumnOptions } from 'typeorm';

const text = (name: string, length: number, isNullable = false): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable });

/**
 * The audit log: one row per object a mutation changed, with who, when, what, and the object's
 * row before and after. Indexes serve the query's filters (each newest first, by id) and the
 * retention prune (by time).
 */
export class AuditLog1764900000000 implements MigrationInterface {
  name = 'AuditLog1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'audit_entries',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          text('created_at', 32),
          text('request_id', 36),
          text('token_id', 36),
          text('token_name', 63),
          text('token_role', 16),
          text('mutation', 128),
          text('operation', 8),
          text('kind', 64),
          text('object_id', 36),
          text('object_name', 63),
          { name: 'revision', type: 'integer', isNullable: true },
          { name: 'row_before', type: 'text', isNullable: true },
          { name: 'row_after', type: 'text', isNullable: true },
        ],
        indices: [
          { name: 'ix_audit_entries_kind', columnNames: ['kind', 'id'] },
          { name: 'ix_audit_entries_object', columnNames: ['object_id', 'id'] },
          { name: 'ix_audit_entries_token', columnNames: ['token_name', 'id'] },
          { name: 'ix_audit_entries_created', columnNames: ['created_at'] },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('audit_entries');
  }
}
