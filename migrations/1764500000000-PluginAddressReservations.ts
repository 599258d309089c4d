import { MigrationInterface, QueryRunner, TableColumn, TableForeignKey, TableIndex } from 'typeorm';

/**
 * Addresses a plugin resource holds in core subnets (a router's legs, external and floating
 * addresses) live in ip_allocations too, so IPAM never hands them to a port and the primary key
 * refuses double use either way: an allocation belongs to a port or to a plugin resource.
 */
export class PluginAddressReservations1764500000000 implements MigrationInterface {
  name = 'PluginAddressReservations1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.changeColumn(
      'ip_allocations',
      'port_id',
      new TableColumn({ name: 'port_id', type: 'varchar', length: '36', isNullable: true }),
    );
    await q.addColumn('ip_allocations', new TableColumn({ name: 'resource_id', type: 'varchar', length: '36', isNullable: true }));
    await q.createIndex('ip_allocations', new TableIndex({ name: 'ix_ip_allocations_resource', columnNames: ['resource_id'] }));
    await q.createForeignKey(
      'ip_allocations',
      new TableForeignKey({
        name: 'fk_ip_allocations_resource',
        columnNames: ['resource_id'],
        referencedTableName: 'plugin_resources',
        referencedColumnNames: ['id'],
        onDelete: 'CASCADE',
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropForeignKey('ip_allocations', 'fk_ip_allocations_resource');
    await q.dropIndex('ip_allocations', 'ix_ip_allocations_resource');
    await q.dropColumn('ip_allocations', 'resource_id');
    await q.changeColumn('ip_allocations', 'port_id', new TableColumn({ name: 'port_id', type: 'varchar', length: '36', isNullable: false }));
  }
}
