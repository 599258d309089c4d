import { Column, Entity } from 'typeorm';
import { jsonColumn } from '../common/columns';
import { ResourceEntity } from '../common/resource.entity';

/** A resource of a plugin kind. Its GraphQL type is generated per kind (plugin-schema.ts). */
@Entity('plugin_resources')
export class PluginResource extends ResourceEntity {
  @Column({ type: 'varchar', length: 64 })
  kind!: string;

  @Column({ name: 'plugin_id', type: 'varchar', length: 64 })
  pluginId!: string;

  @Column({ type: 'text', transformer: jsonColumn })
  spec!: Record<string, unknown>;
}
