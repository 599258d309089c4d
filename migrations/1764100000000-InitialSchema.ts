import { MigrationInterface, QueryRunner, Table, TableColumnOptions } from 'typeorm';

// Written with TypeORM's Table API (not SQL text) so the same migration runs on SQLite and PostgreSQL.
const id = (name = 'id'): TableColumnOptions => ({ name, type: 'varchar', length: '36', isPrimary: name === 'id' });
const ref = (name: string): TableColumnOptions => ({ name, type: 'varchar', length: '36' });
const text = (name: string, length: number, isNullable = false): TableColumnOptions => ({
  name,
  type: 'varchar',
  length: String(length),
  isNullable,
});
const int = (name: string, isNullable = false): TableColumnOptions => ({ name, type: 'integer', isNullable });
const resourceColumns = (): TableColumnOptions[] => [
  id(),
  text('name', 63),
  { name: 'labels', type: 'text' },
  int('generation'),
  text('created_at', 32),
  text('updated_at', 32),
];

export class InitialSchema1764100000000 implements MigrationInterface {
  name = 'InitialSchema1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'api_tokens',
        columns: [id(), text('name', 63), text('role', 16), text('token_hash', 64), text('created_at', 32), text('revoked_at', 32, true)],
        uniques: [{ name: 'uq_api_tokens_hash', columnNames: ['token_hash'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'changes',
        columns: [
          // Assigned by the controller's serialized unit of work, so a bulk change inserts in one statement.
          { name: 'revision', type: 'integer', isPrimary: true },
          text('kind', 64),
          ref('resource_id'),
          text('operation', 8),
          int('generation'),
          text('created_at', 32),
        ],
        indices: [{ name: 'ix_changes_resource', columnNames: ['kind', 'resource_id'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'hosts',
        columns: [...resourceColumns(), text('vtep_address', 45), text('join_token_hash', 64, true)],
        uniques: [
          { name: 'uq_hosts_name', columnNames: ['name'] },
          { name: 'uq_hosts_vtep', columnNames: ['vtep_address'] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'networks',
        columns: [...resourceColumns(), int('vni'), int('mtu', true)],
        uniques: [
          { name: 'uq_networks_name', columnNames: ['name'] },
          { name: 'uq_networks_vni', columnNames: ['vni'] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'subnets',
        columns: [
          ...resourceColumns(),
          ref('network_id'),
          text('cidr', 49),
          int('ip_version'),
          text('gateway_ip', 45),
          { name: 'allocation_pools', type: 'text' },
          { name: 'dns_servers', type: 'text' },
        ],
        uniques: [{ name: 'uq_subnets_network_name', columnNames: ['network_id', 'name'] }],
        foreignKeys: [{ name: 'fk_subnets_network', columnNames: ['network_id'], referencedTableName: 'networks', referencedColumnNames: ['id'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'ports',
        columns: [...resourceColumns(), ref('network_id'), ref('host_id'), text('mac_address', 17), text('netns', 64, true)],
        uniques: [
          { name: 'uq_ports_network_name', columnNames: ['network_id', 'name'] },
          { name: 'uq_ports_mac', columnNames: ['mac_address'] },
        ],
        indices: [{ name: 'ix_ports_host', columnNames: ['host_id'] }],
        foreignKeys: [
          { name: 'fk_ports_network', columnNames: ['network_id'], referencedTableName: 'networks', referencedColumnNames: ['id'] },
          { name: 'fk_ports_host', columnNames: ['host_id'], referencedTableName: 'hosts', referencedColumnNames: ['id'] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'ip_allocations',
        columns: [
          { ...ref('subnet_id'), isPrimary: true },
          { ...text('ip_address', 45), isPrimary: true },
          ref('port_id'),
        ],
        indices: [{ name: 'ix_ip_allocations_port', columnNames: ['port_id'] }],
        foreignKeys: [
          { name: 'fk_ip_allocations_subnet', columnNames: ['subnet_id'], referencedTableName: 'subnets', referencedColumnNames: ['id'] },
          {
            name: 'fk_ip_allocations_port',
            columnNames: ['port_id'],
            referencedTableName: 'ports',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['ip_allocations', 'ports', 'subnets', 'networks', 'hosts', 'changes', 'api_tokens']) {
      await q.dropTable(table);
    }
  }
}
