import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * Provider networks: a network bound to a physical network (flat or on a VLAN) instead of VXLAN,
 * and the physical networks each host's agent maps to its interfaces.
 */
export class ProviderNetworks1764950000000 implements MigrationInterface {
  name = 'ProviderNetworks1764950000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('networks', [
      new TableColumn({ name: 'provider_interface', type: 'varchar', length: '32', isNullable: true }),
      new TableColumn({ name: 'vlan_id', type: 'integer', isNullable: true }),
    ]);
    await q.createIndex('networks', new TableIndex({ name: 'ix_networks_provider', columnNames: ['provider_interface', 'vlan_id'] }));
    await q.addColumn('host_agents', new TableColumn({ name: 'provider_mappings', type: 'text', default: "'[]'" }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('host_agents', 'provider_mappings');
    await q.dropIndex('networks', 'ix_networks_provider');
    await q.dropColumns('networks', ['provider_interface', 'vlan_id']);
  }
}
