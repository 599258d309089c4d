import { MigrationInterface, QueryRunner, TableForeignKey, TableIndex } from 'typeorm';

/**
 * On PostgreSQL, PluginAddressReservations' changeColumn of ip_allocations.port_id dropped the
 * column and added it back (TypeORM compares `varchar` with the loaded `character varying` and
 * takes them for different types), losing its foreign key (ON DELETE CASCADE) and its index.
 * Puts both back there; SQLite rebuilt the table with them, so nothing changes on SQLite.
 * (No PostgreSQL database held allocations before this: PostgreSQL support came with it.)
 */
export class PostgresAllocationPortKey1764790000000 implements MigrationInterface {
  name = 'PostgresAllocationPortKey1764790000000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    const table = await q.getTable('ip_allocations');
    if (!table?.indices.some((i) => i.name === 'ix_ip_allocations_port')) {
      await q.createIndex('ip_allocations', new TableIndex({ name: 'ix_ip_allocations_port', columnNames: ['port_id'] }));
    }
    if (!table?.foreignKeys.some((k) => k.name === 'fk_ip_allocations_port')) {
      await q.createForeignKey(
        'ip_allocations',
        new TableForeignKey({
          name: 'fk_ip_allocations_port',
          columnNames: ['port_id'],
          referencedTableName: 'ports',
          referencedColumnNames: ['id'],
          onDelete: 'CASCADE',
        }),
      );
    }
  }

  async down(): Promise<void> {
    // The key and index belong to the schema of every earlier migration: nothing to undo.
  }
}
