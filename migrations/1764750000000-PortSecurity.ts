import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** Port security (anti-spoofing, on by default) and the address pairs a port may also send from. */
export class PortSecurity1764750000000 implements MigrationInterface {
  name = 'PortSecurity1764750000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('ports', [
      new TableColumn({ name: 'port_security', type: 'boolean', default: true }),
      new TableColumn({ name: 'allowed_address_pairs', type: 'text', default: "'[]'" }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumns('ports', ['port_security', 'allowed_address_pairs']);
  }
}
