import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** How many statuses each host's agent sent that the controller did not store (not its resources, too large). */
export class HostAgentDroppedStatuses1764710000000 implements MigrationInterface {
  name = 'HostAgentDroppedStatuses1764710000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('host_agents', new TableColumn({ name: 'dropped_statuses', type: 'integer', default: 0, isNullable: false }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('host_agents', 'dropped_statuses');
  }
}
