import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * Several controller replicas on one database: which replica holds each agent's channel, and an
 * order of stored statuses (assigned under the write lock) by which the other replicas read the
 * ones they did not store themselves.
 */
export class ReplicaPresence1764800000000 implements MigrationInterface {
  name = 'ReplicaPresence1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('host_agents', new TableColumn({ name: 'controller_id', type: 'varchar', length: '80', isNullable: true }));
    await q.addColumn('resource_statuses', new TableColumn({ name: 'seq', type: 'bigint', default: 0 }));
    await q.createIndex('resource_statuses', new TableIndex({ name: 'ix_resource_statuses_seq', columnNames: ['seq'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('resource_statuses', 'ix_resource_statuses_seq');
    await q.dropColumn('resource_statuses', 'seq');
    await q.dropColumn('host_agents', 'controller_id');
  }
}
