import { EntityManager, FindOptionsWhere } from 'typeorm';
import { badInput, conflict, newId, notFound, validateName } from '@netloom/model';
import { Tx } from '../changes/changes.service';
import { ChangeOperation } from '@netloom/model';
import { Label, LabelInput, parseLabelInput } from './label';
import { ResourceEntity } from './resource.entity';

type ResourceClass<T extends ResourceEntity> = new () => T;

/** The fields every create input has. */
export interface ResourceInput {
  name: string;
  labels?: LabelInput[];
}

/** A new resource's common fields, validated: fresh id, generation 1, timestamps now. */
export function newResource(
  input: ResourceInput,
  field = 'input',
): Pick<ResourceEntity, 'id' | 'name' | 'labels' | 'generation' | 'createdAt' | 'updatedAt'> {
  const now = new Date();
  return {
    id: newId(),
    name: validateName(input.name, `${field}.name`),
    labels: parseLabelInput(input.labels, `${field}.labels`),
    generation: 1,
    createdAt: now,
    updatedAt: now,
  };
}

export async function findOrFail<T extends ResourceEntity>(
  em: EntityManager,
  entity: ResourceClass<T>,
  id: string,
  field = 'input.id',
): Promise<T> {
  const found = await em.findOneBy(entity, { id } as FindOptionsWhere<T>);
  if (!found) throw notFound(`${entity.name} ${id} not found`, field);
  return found;
}

/** Optimistic concurrency: a caller that saw an older generation must reload first. */
export function checkGeneration(resource: ResourceEntity, expected: number | undefined | null): void {
  if (expected !== undefined && expected !== null && expected !== resource.generation) {
    throw conflict(
      `${resource.constructor.name} ${resource.id} is at generation ${resource.generation}, not ${expected}: it changed since you read it`,
      'input.generation',
    );
  }
}

/** Refuses a name already used in its scope (`scope` narrows it, e.g. to one network). */
export async function ensureNameFree<T extends ResourceEntity>(
  em: EntityManager,
  entity: ResourceClass<T>,
  name: string,
  scope: Partial<Record<keyof T, unknown>> = {},
  exceptId?: string,
): Promise<void> {
  const existing = await em.findOneBy(entity, { ...scope, name } as FindOptionsWhere<T>);
  if (existing && existing.id !== exceptId) {
    throw conflict(`a ${entity.name} named ${name} already exists`, 'input.name');
  }
}

/** Applies the common updatable fields (name is checked by the caller's scope). */
export function applyCommonUpdate(resource: ResourceEntity, input: { name?: string | null; labels?: LabelInput[] | null }): void {
  if (input.name !== undefined && input.name !== null) resource.name = validateName(input.name, 'input.name');
  if (input.labels !== undefined && input.labels !== null) resource.labels = parseLabelInput(input.labels, 'input.labels');
}

/** Saves an updated resource under a new generation and records the change. */
export async function saveUpdate<T extends ResourceEntity>(tx: Tx, entity: ResourceClass<T>, resource: T): Promise<T> {
  // The stored row, read before it is overwritten: `resource` already holds the new values.
  const before = tx.auditing ? tx.state(await tx.em.findOneBy(entity, { id: resource.id } as FindOptionsWhere<T>)) : null;
  resource.generation += 1;
  resource.updatedAt = new Date();
  await tx.em.save(entity, resource);
  await tx.record(entity.name, resource.id, ChangeOperation.UPDATE, resource.generation, before, tx.state(resource));
  return resource;
}

export async function recordCreate(tx: Tx, kind: string, resource: ResourceEntity): Promise<void> {
  await tx.record(kind, resource.id, ChangeOperation.CREATE, resource.generation, null, tx.state(resource));
}

/** Deletes resources of one kind and records each deletion. */
export async function deleteAll<T extends ResourceEntity>(tx: Tx, entity: ResourceClass<T>, resources: T[]): Promise<void> {
  if (!resources.length) return;
  const ids = resources.map((r) => r.id);
  for (let i = 0; i < ids.length; i += 500) {
    await tx.em.delete(entity, ids.slice(i, i + 500));
  }
  for (const r of resources) await tx.record(entity.name, r.id, ChangeOperation.DELETE, r.generation + 1, tx.state(r), null);
}

/** A single-object lookup takes exactly one of id and name. */
export function lookup(id: string | undefined, name: string | undefined): { id: string } | { name: string } {
  if (id !== undefined && id !== null && (name === undefined || name === null)) return { id };
  if (name !== undefined && name !== null && (id === undefined || id === null)) return { name };
  throw badInput('give exactly one of id and name', id ? 'name' : 'id');
}

export type { Label };
