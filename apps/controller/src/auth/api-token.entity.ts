import { Field, ID, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { isoDateColumn } from '../common/columns';
import { Node } from '../common/node';

export enum Role {
  ADMIN = 'admin',
  VIEWER = 'viewer',
}
registerEnumType(Role, { name: 'Role', description: 'admin may read and write; viewer may only read.' });

@ObjectType({ description: 'A bearer token for the API. The secret itself is shown only when created.', implements: () => [Node] })
@Entity('api_tokens')
export class ApiToken {
  @Field(() => ID)
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Field()
  @Column({ type: 'varchar', length: 63 })
  name!: string;

  @Field(() => Role)
  @Column({ type: 'varchar', length: 16 })
  role!: Role;

  @Column({ name: 'token_hash', type: 'varchar', length: 64 })
  tokenHash!: string;

  @Field()
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoDateColumn })
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'revoked_at', type: 'varchar', length: 32, nullable: true, transformer: isoDateColumn })
  revokedAt!: Date | null;
}
