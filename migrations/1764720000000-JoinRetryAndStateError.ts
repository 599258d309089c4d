import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** When a host's join token was exchanged (a lost answer may be asked again for a while), and an agent's state dir trouble. */
export class JoinRetryAndStateError1764720000000 implements MigrationInterface {
  name = 'JoinRetryAndStateError1764720000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('hosts', new TableColumn({ name: 'join_token_used_at', type: 'varchar', length: '32', isNullable: true }));
    await q.addColumn('host_agents', new TableColumn({ name: 'state_error', type: 'varchar', length: '500', isNullable: true }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('host_agents', 'state_error');
    await q.dropColumn('hosts', 'join_token_used_at');
  }
}
