import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** Each host's underlay MTU, so port MTUs can account for the VXLAN overhead. */
export class HostUnderlayMtu1764300000000 implements MigrationInterface {
  name = 'HostUnderlayMtu1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('hosts', new TableColumn({ name: 'underlay_mtu', type: 'integer', default: 1500 }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('hosts', 'underlay_mtu');
  }
}
