import { MigrationInterface, QueryRunner, Table } from 'typeorm';

/** Agent credentials and liveness per host, and per-host realization status of resources. */
export class AgentChannel1764200000000 implements MigrationInterface {
  name = 'AgentChannel1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'host_agents',
        columns: [
          { name: 'host_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'credential_hash', type: 'varchar', length: '64', isNullable: true },
          { name: 'connected', type: 'boolean', default: false },
          { name: 'last_seen', type: 'varchar', length: '32', isNullable: true },
          { name: 'applied_revision', type: 'integer', default: 0 },
          { name: 'agent_version', type: 'varchar', length: '64', isNullable: true },
          { name: 'kernel', type: 'varchar', length: '128', isNullable: true },
          { name: 'capabilities', type: 'text' },
          { name: 'plugins', type: 'text' },
        ],
        uniques: [{ name: 'uq_host_agents_credential', columnNames: ['credential_hash'] }],
        foreignKeys: [
          { name: 'fk_host_agents_host', columnNames: ['host_id'], referencedTableName: 'hosts', referencedColumnNames: ['id'], onDelete: 'CASCADE' },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'resource_statuses',
        columns: [
          { name: 'host_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'kind', type: 'varchar', length: '64', isPrimary: true },
          { name: 'resource_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'generation', type: 'integer' },
          { name: 'reason', type: 'text', isNullable: true },
          { name: 'attributes', type: 'text' },
          { name: 'updated_at', type: 'varchar', length: '32' },
        ],
        indices: [{ name: 'ix_resource_statuses_resource', columnNames: ['kind', 'resource_id'] }],
        foreignKeys: [
          {
            name: 'fk_resource_statuses_host',
            columnNames: ['host_id'],
            referencedTableName: 'hosts',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('resource_statuses');
    await q.dropTable('host_agents');
  }
}
