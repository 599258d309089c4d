import { AsyncLocalStorage } from 'node:async_hooks';
import { MapperKind, mapSchema } from '@graphql-tools/utils';
import { defaultFieldResolver, GraphQLSchema } from 'graphql';
import { EntityManager } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { newId } from '@netloom/model';
import type { RequestContext } from '../auth/principal';
import { Principal } from '../auth/principal';

/** Who runs the mutation a write belongs to: what its audit entries say. */
export interface AuditContext {
  principal: Principal;
  /** Shared by every mutation field of one GraphQL request. */
  requestId: string;
  /** The mutation field, e.g. `createPorts`. */
  mutation: string;
}

// Writes made outside any mutation (agents' statuses and acks, the prune itself) run with none.
const current = new AsyncLocalStorage<AuditContext>();

/** The mutation the caller runs for, if any (read by `ChangesService.transact`). */
export const auditContext = (): AuditContext | undefined => current.getStore();

/**
 * Every mutation field, Nest's and the plugin kinds' alike, runs inside an audit context naming
 * the request's principal and the field; the write it makes records its audit entries from it.
 */
export function withAuditContext(schema: GraphQLSchema): GraphQLSchema {
  const mutation = schema.getMutationType()?.name;
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (config, fieldName, typeName) => {
      if (typeName !== mutation) return config;
      const resolve = config.resolve ?? defaultFieldResolver;
      return {
        ...config,
        resolve: (source, args, context: (Partial<RequestContext> & { auditRequestId?: string }) | undefined, info) => {
          if (!context?.principal) return resolve(source, args, context, info);
          context.auditRequestId ??= newId();
          const audit: AuditContext = { principal: context.principal, requestId: context.auditRequestId, mutation: fieldName };
          return current.run(audit, () => resolve(source, args, context, info));
        },
      };
    },
  });
}

/** Columns never copied into the audit log (`table.column`): secrets and their hashes. */
export const SECRET_COLUMNS = new Set(['api_tokens.token_hash', 'hosts.join_token_hash', 'host_agents.credential_hash']);

/** An object as an audit entry keeps it: its name, and its stored row as JSON by property, without secrets. */
export interface AuditState {
  name: string;
  row: string;
}

// The columns an audit state keeps, per entity class (read from the metadata once).
const keptColumns = new WeakMap<object, ColumnMetadata[]>();

/** The state of an entity (as loaded or about to be stored) for the audit log. */
export function auditState(em: EntityManager, entity: object & { name: string }): AuditState {
  let columns = keptColumns.get(entity.constructor);
  if (!columns) {
    const metadata = em.connection.getMetadata(entity.constructor);
    columns = metadata.columns.filter((column) => !SECRET_COLUMNS.has(`${metadata.tableName}.${column.databaseName}`));
    keptColumns.set(entity.constructor, columns);
  }
  const row: Record<string, unknown> = {};
  for (const column of columns) row[column.propertyName] = column.getEntityValue(entity) as unknown;
  return { name: entity.name, row: JSON.stringify(row) };
}
