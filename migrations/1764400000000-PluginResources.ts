import { MigrationInterface, QueryRunner, Table } from 'typeorm';

/** One table for the resources of every plugin kind; the spec is JSON checked against the kind's schema. */
export class PluginResources1764400000000 implements MigrationInterface {
  name = 'PluginResources1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'plugin_resources',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'kind', type: 'varchar', length: '64' },
          { name: 'plugin_id', type: 'varchar', length: '64' },
          { name: 'name', type: 'varchar', length: '63' },
          { name: 'labels', type: 'text' },
          { name: 'spec', type: 'text' },
          { name: 'generation', type: 'integer' },
          { name: 'created_at', type: 'varchar', length: '32' },
          { name: 'updated_at', type: 'varchar', length: '32' },
        ],
        uniques: [{ name: 'uq_plugin_resources_kind_name', columnNames: ['kind', 'name'] }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('plugin_resources');
  }
}
