import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** What agents observe of a plugin resource per host (health, counters), as JSON per its kind's `observed` schema. */
export class StatusObserved1764600000000 implements MigrationInterface {
  name = 'StatusObserved1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('resource_statuses', new TableColumn({ name: 'observed', type: 'text', isNullable: true }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('resource_statuses', 'observed');
  }
}
