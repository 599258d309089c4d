import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In } from 'typeorm';
import { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { badInput, ChangeOperation, conflict, NetloomError, notFound } from '@netloom/model';
import type { AddressReservation, Placement } from '@netloom/plugin-sdk';
import { ChangesService, Tx } from '../changes/changes.service';
import { DeleteInput, DeletePayload } from '../common/inputs';
import { LabelInput, whereLabels } from '../common/label';
import { Connection, ConnectionArgs, paginate } from '../common/pagination';
import { applyCommonUpdate, newResource } from '../common/resource-ops';
import { Host } from '../hosts/host.entity';
import { Network } from '../networks/network.entity';
import { contains, parseCidr, parseHost, parseIp, SubnetAllocator } from '../ipam/ipam';
import { IpAllocation } from '../ports/ip-allocation.entity';
import { subnetAllocator } from '../ports/port-batch';
import { Port } from '../ports/port.entity';
import { Subnet } from '../subnets/subnet.entity';
import { CoreReads, databaseIntentView, fromPluginError, toSdkResource } from './intent-view';
import { LoadedKind, PluginRegistry } from './plugin-registry';
import { PluginResource } from './plugin-resource.entity';
import { PLUGIN_REGISTRY } from './tokens';
import { SpecRef, specFieldHolding, validateSpec } from './spec-validation';

type ParsedIp = ReturnType<typeof parseIp>;

/**
 * The spec field an address IPAM picks goes to: a reservation without `ipAddress` must name a
 * top-level `ip` field of the kind in `assignTo`. Anything else is the plugin's bug (an internal error).
 */
function assignTarget(loaded: LoadedKind, resource: PluginResource, r: AddressReservation): string {
  const what = `plugin ${loaded.plugin.id}: reserve() of ${resource.kind} ${resource.name} asked for an address in subnet ${r.subnetId}`;
  if (!r.assignTo) throw new Error(`${what} with neither ipAddress nor assignTo`);
  if (loaded.definition.fields[r.assignTo]?.type !== 'ip') throw new Error(`${what} for ${r.assignTo}, which is not a top-level ip field of ${resource.kind}`);
  return r.assignTo;
}

/** Create and update inputs: the common fields, and the kind's spec fields at the top level. */
export interface PluginResourceInput {
  id?: string;
  generation?: number | null;
  name?: string | null;
  labels?: LabelInput[] | null;
  [field: string]: unknown;
}

export interface PluginResourceFilter {
  name?: string | null;
  labels?: LabelInput[] | null;
}

const COMMON_INPUTS = new Set(['id', 'generation', 'name', 'labels']);

/** What a batch create looked up ahead for all its inputs (see `lookAhead`). */
interface BatchLookups {
  /** Ids its refs name that exist, by kind. */
  existing: Map<string, Set<string>>;
  /** Names of its kind taken: before the write, or by an input already made in it. */
  taken: Set<string>;
}
const CORE_TABLES = { Host, Network, Subnet, Port } as const;
const REF_CHUNK = 500;
/** Resources one batch create may make (as ports: `createPorts`). */
export const MAX_BULK_RESOURCES = 1000;

/**
 * Runs `run`, naming input `path` (`inputs.N`) in what it refuses: a field path the checks gave
 * as `input.…` becomes `inputs.N.…` (in the message too), and a refusal without a field names
 * the input.
 */
async function atInput<T>(path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof NetloomError)) throw error;
    const { field } = error;
    if (field !== undefined && field !== 'input' && !field.startsWith('input.')) throw error;
    const moved = field === undefined ? path : path + field.slice('input'.length);
    const message = field !== undefined && error.message.startsWith(field) ? moved + error.message.slice(field.length) : error.message;
    throw new NetloomError(error.code, message, moved);
  }
}

/** Resources of plugin kinds: one table for all, written through the one door like the core's. */
@Injectable()
export class PluginResourcesService {
  /** A write's IPAM allocators by subnet, keyed by the write's core reads (one per write or batch). */
  private readonly allocators = new WeakMap<CoreReads, Map<string, SubnetAllocator>>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
    @Inject(PLUGIN_REGISTRY) private readonly registry: PluginRegistry,
  ) {}

  list(kind: string, filter: PluginResourceFilter | undefined | null, args: ConnectionArgs): Promise<Connection<PluginResource>> {
    const qb = this.dataSource.getRepository(PluginResource).createQueryBuilder('r').where('r.kind = :kind', { kind });
    if (filter?.name) qb.andWhere('r.name = :name', { name: filter.name });
    whereLabels(qb, 'r', filter?.labels ?? undefined);
    return paginate(qb, 'r', args);
  }

  find(kind: string, where: { id: string } | { name: string }): Promise<PluginResource | null> {
    return this.dataSource.getRepository(PluginResource).findOneBy({ ...where, kind });
  }

  create(kind: string, input: PluginResourceInput): Promise<PluginResource> {
    return this.createMany(kind, [input], 'input').then(([made]) => made);
  }

  /**
   * Creates resources of one kind in one transaction: all of them, or none (the first refusal
   * names its input, `inputs.N.…`). One commit, so the hosts get them in one update each.
   */
  createMany(kind: string, inputs: PluginResourceInput[], field = 'inputs'): Promise<PluginResource[]> {
    const loaded = this.kindOf(kind);
    if (inputs.length > MAX_BULK_RESOURCES) throw badInput(`at most ${MAX_BULK_RESOURCES} per call, got ${inputs.length}`, field);
    return this.changes.transact(async (tx) => {
      const made: PluginResource[] = [];
      const core: CoreReads = new Map();
      // Several at once: what they name is looked up once per kind, their names once, not per input.
      const batch = inputs.length > 1 ? await this.lookAhead(tx.em, loaded, inputs) : undefined;
      for (const [i, input] of inputs.entries()) {
        const one = () => this.createOne(tx, loaded, input, core, batch);
        made.push(field === 'input' ? await one() : await atInput(`${field}.${i}`, one));
      }
      return made;
    });
  }

  /**
   * For a batch create: the ids its inputs' refs name that exist (by kind), and the names of this
   * kind already taken among its inputs' names. Inputs are still checked one by one, in order,
   * with the same refusals: this only spares each its own queries (an input whose spec is not
   * valid here is skipped; its own check refuses it).
   */
  private async lookAhead(em: EntityManager, loaded: LoadedKind, inputs: PluginResourceInput[]): Promise<BatchLookups> {
    const wanted = new Map<string, Set<string>>();
    for (const input of inputs) {
      const rest = Object.fromEntries(Object.entries(input).filter(([key]) => key !== 'name' && key !== 'labels'));
      let refs: SpecRef[];
      try {
        refs = validateSpec(loaded.definition.fields, rest).refs;
      } catch {
        continue;
      }
      for (const ref of refs) wanted.set(ref.kind, (wanted.get(ref.kind) ?? new Set()).add(ref.id));
    }
    const existing = new Map<string, Set<string>>();
    for (const [kind, ids] of wanted) existing.set(kind, await this.existingIds(em, kind, [...ids]));
    const names = [...new Set(inputs.map((i) => i.name).filter((n): n is string => typeof n === 'string'))];
    const taken = new Set<string>();
    for (let i = 0; i < names.length; i += REF_CHUNK) {
      const rows = await em.find(PluginResource, { select: { name: true }, where: { kind: loaded.name, name: In(names.slice(i, i + REF_CHUNK)) } });
      for (const row of rows) taken.add(row.name);
    }
    return { existing, taken };
  }

  private async createOne(tx: Tx, loaded: LoadedKind, input: PluginResourceInput, core: CoreReads, batch?: BatchLookups): Promise<PluginResource> {
    const { name, labels, ...rest } = input;
    const resource = tx.em.create(PluginResource, {
      ...newResource({ name: name as string, labels: labels ?? undefined }),
      kind: loaded.name,
      pluginId: loaded.plugin.id,
      spec: {},
    });
    resource.spec = await this.checkSpec(tx.em, loaded, rest, batch?.existing);
    if (batch) {
      // Taken before this write, or by an input before this one.
      if (batch.taken.has(resource.name)) throw conflict(`a ${resource.kind} named ${resource.name} already exists`, 'input.name');
      batch.taken.add(resource.name);
    } else {
      await this.ensureNameFree(tx.em, resource);
    }
    await this.validateWithPlugin(tx.em, loaded, resource, core);
    await tx.em.insert(PluginResource, resource as QueryDeepPartialEntity<PluginResource>);
    await this.reserveAddresses(tx.em, loaded, resource, core, { created: true });
    await tx.record(loaded.name, resource.id, ChangeOperation.CREATE, resource.generation, null, tx.state(resource));
    return resource;
  }

  /** Spec fields given replace the stored ones (null clears an optional field); absent ones stay. */
  update(kind: string, input: PluginResourceInput): Promise<PluginResource> {
    const loaded = this.kindOf(kind);
    return this.changes.transact(async (tx) => {
      const resource = await this.findOrFail(tx.em, kind, input.id);
      this.checkGeneration(resource, input.generation);
      const before = tx.state(resource);
      applyCommonUpdate(resource, input);
      const given = Object.fromEntries(Object.entries(input).filter(([key]) => !COMMON_INPUTS.has(key)));
      resource.spec = await this.checkSpec(tx.em, loaded, { ...resource.spec, ...given });
      await this.ensureNameFree(tx.em, resource);
      const core: CoreReads = new Map();
      await this.validateWithPlugin(tx.em, loaded, resource, core);
      resource.generation += 1;
      resource.updatedAt = new Date();
      // An update of the columns that change (save() would merge the spec deeply into the entity
      // it tracks and compare: milliseconds for a 500-rule policy).
      const { name, labels, spec, generation, updatedAt } = resource;
      await tx.em.update(PluginResource, resource.id, { name, labels, spec, generation, updatedAt } as QueryDeepPartialEntity<PluginResource>);
      await this.reserveAddresses(tx.em, loaded, resource, core);
      await tx.record(kind, resource.id, ChangeOperation.UPDATE, resource.generation, before, tx.state(resource));
      return resource;
    });
  }

  delete(kind: string, input: DeleteInput): Promise<DeletePayload> {
    this.kindOf(kind);
    return this.changes.transact(async (tx: Tx) => {
      const resource = await this.findOrFail(tx.em, kind, input.id);
      this.checkGeneration(resource, input.generation);
      await tx.em.delete(PluginResource, resource.id);
      const revision = await tx.record(kind, resource.id, ChangeOperation.DELETE, resource.generation + 1, tx.state(resource), null);
      return { deletedIds: [resource.id], revision };
    });
  }

  private kindOf(kind: string): LoadedKind {
    const loaded = this.registry.kind(kind);
    if (!loaded) throw badInput(`no loaded plugin declares kind ${kind}`);
    return loaded;
  }

  private async findOrFail(em: EntityManager, kind: string, id: string | undefined): Promise<PluginResource> {
    const found = id ? await em.findOneBy(PluginResource, { id, kind }) : null;
    if (!found) throw notFound(`${kind} ${id} not found`, 'input.id');
    return found;
  }

  private checkGeneration(resource: PluginResource, expected: number | undefined | null): void {
    if (expected !== undefined && expected !== null && expected !== resource.generation) {
      throw conflict(
        `${resource.kind} ${resource.id} is at generation ${resource.generation}, not ${expected}: it changed since you read it`,
        'input.generation',
      );
    }
  }

  private async ensureNameFree(em: EntityManager, resource: PluginResource): Promise<void> {
    const existing = await em.findOneBy(PluginResource, { kind: resource.kind, name: resource.name });
    if (existing && existing.id !== resource.id) throw conflict(`a ${resource.kind} named ${resource.name} already exists`, 'input.name');
  }

  /** The schema's checks, then every ref must name an existing resource (`known`: ids known to exist, by kind, not asked again). */
  private async checkSpec(em: EntityManager, loaded: LoadedKind, value: Record<string, unknown>, known?: ReadonlyMap<string, ReadonlySet<string>>): Promise<Record<string, unknown>> {
    const { spec, refs } = validateSpec(loaded.definition.fields, value);
    await this.checkRefs(em, refs, known);
    return spec;
  }

  private async checkRefs(em: EntityManager, refs: SpecRef[], known?: ReadonlyMap<string, ReadonlySet<string>>): Promise<void> {
    const byKind = new Map<string, SpecRef[]>();
    for (const ref of refs) byKind.set(ref.kind, [...(byKind.get(ref.kind) ?? []), ref]);
    for (const [kind, list] of byKind) {
      const sure = known?.get(kind);
      const found = await this.existingIds(em, kind, [...new Set(list.map((r) => r.id).filter((id) => !sure?.has(id)))]);
      const missing = list.find((r) => !sure?.has(r.id) && !found.has(r.id));
      if (missing) throw badInput(`${missing.field}: ${kind} ${missing.id} does not exist`, missing.field);
    }
  }

  /** Which of `ids` name an existing resource of `kind` (a core table's, or a plugin kind's). */
  private async existingIds(em: EntityManager, kind: string, ids: string[]): Promise<Set<string>> {
    const core = CORE_TABLES[kind as keyof typeof CORE_TABLES];
    const found = new Set<string>();
    // In chunks: a spec may name more ids than one statement may bind (SQLite: 32 766).
    for (let i = 0; i < ids.length; i += REF_CHUNK) {
      const chunk = ids.slice(i, i + REF_CHUNK);
      const rows: { id: string }[] = core
        ? await em.find(core, { select: { id: true }, where: { id: In(chunk) } })
        : await em.find(PluginResource, { select: { id: true }, where: { kind, id: In(chunk) } });
      for (const row of rows) found.add(row.id);
    }
    return found;
  }

  /**
   * Replaces the addresses the resource holds in core subnets by what its plugin's `reserve`
   * says now. They sit in ip_allocations beside ports' addresses: IPAM skips them, and one
   * already held (by a port or another resource) is refused with CONFLICT. They go with the
   * resource (foreign key, cascade). A reservation without an address gets one from IPAM, as a
   * port would, after the named ones (so it never takes one of those); it is written into the
   * spec field `assignTo`, and the stored spec updated. Last, every address the resource's
   * placements announce on a network (`endpoints`) that lies in a subnet of that network is held
   * too, named by `reserve` or not: a plugin cannot forget one.
   */
  private async reserveAddresses(em: EntityManager, loaded: LoadedKind, resource: PluginResource, core: CoreReads, opts: { created?: boolean } = {}): Promise<void> {
    // What it held before goes (a resource just made holds nothing).
    if (!opts.created) await em.delete(IpAllocation, { resourceId: resource.id });
    // One allocator per subnet for the whole write: a batch of ten VIPs reads the subnet's addresses once, not ten times.
    const allocators = this.allocators.get(core) ?? new Map<string, SubnetAllocator>();
    this.allocators.set(core, allocators);
    const held = new Set<string>();
    const hold = async (subnet: Subnet, ip: string, field: string | undefined): Promise<void> => {
      const ipAddress = parseHost(parseCidr(subnet.cidr), ip, 'address', field).text;
      if (held.has(`${subnet.id}|${ipAddress}`)) return;
      held.add(`${subnet.id}|${ipAddress}`);
      const holder = await em.findOneBy(IpAllocation, { subnetId: subnet.id, ipAddress });
      if (holder) {
        const by = holder.portId ? `port ${holder.portId}` : `resource ${holder.resourceId}`;
        throw conflict(`${ipAddress} in subnet ${subnet.name} is already held by ${by}`, field);
      }
      await em.insert(IpAllocation, { subnetId: subnet.id, ipAddress, portId: null, resourceId: resource.id });
      // A later resource of the write picks around it.
      const allocator = allocators.get(subnet.id);
      if (allocator && !allocator.taken.has(ipAddress)) allocator.claim(ipAddress, field);
    };
    const reserve = loaded.plugin.controller?.reserve;
    let wanted: AddressReservation[] = [];
    try {
      if (reserve) wanted = await reserve.call(loaded.plugin.controller, toSdkResource(resource), databaseIntentView(em, loaded.plugin, resource.id, core));
    } catch (error) {
      throw fromPluginError(error);
    }
    for (const r of wanted) {
      if (r.ipAddress !== undefined && r.ipAddress !== null) await hold(await this.reservedSubnet(em, r), r.ipAddress, r.field);
    }
    const picks = wanted.filter((r) => r.ipAddress === undefined || r.ipAddress === null);
    for (const r of picks) {
      const target = assignTarget(loaded, resource, r);
      const subnet = await this.reservedSubnet(em, r);
      const allocator = allocators.get(subnet.id) ?? (await subnetAllocator(em, subnet));
      allocators.set(subnet.id, allocator);
      const ipAddress = allocator.allocate(r.field);
      resource.spec = { ...resource.spec, [target]: ipAddress };
      await hold(subnet, ipAddress, r.field);
    }
    if (picks.length) await em.update(PluginResource, resource.id, { spec: resource.spec } as QueryDeepPartialEntity<PluginResource>);
    const announced = await this.announced(em, loaded, resource, core);
    const subnets = announced.length ? await em.find(Subnet) : [];
    for (const { networkId, ip } of announced) {
      const subnet = subnets.find((s) => s.networkId === networkId && s.ipVersion === ip.version && contains(parseCidr(s.cidr), ip.value));
      if (subnet) await hold(subnet, ip.text, specFieldHolding(resource.spec, ip.text));
    }
  }

  /**
   * The addresses the resource's placements put on networks (`endpoints`), as `place()` says now.
   * A place() that fails announces nothing, and the dispatcher skips it (with a log line); so does
   * it a placement with an endpoint address that is no address (the plugin's bug).
   */
  private async announced(em: EntityManager, loaded: LoadedKind, resource: PluginResource, core: CoreReads): Promise<{ networkId: string; ip: ParsedIp }[]> {
    let placements: Placement[];
    try {
      placements = await loaded.plugin.controller!.place(toSdkResource(resource), databaseIntentView(em, loaded.plugin, resource.id, core));
    } catch {
      return [];
    }
    const out: { networkId: string; ip: ParsedIp }[] = [];
    for (const p of Array.isArray(placements) ? placements : []) {
      for (const e of Array.isArray(p?.endpoints) ? p.endpoints : []) {
        for (const ip of Array.isArray(e?.ips) ? e.ips : []) {
          try {
            out.push({ networkId: e.networkId, ip: parseIp(String(ip)) });
          } catch {
            // Not an address: nothing to hold.
          }
        }
      }
    }
    return out;
  }

  private async reservedSubnet(em: EntityManager, r: AddressReservation): Promise<Subnet> {
    const subnet = await em.findOneBy(Subnet, { id: r.subnetId });
    if (!subnet) throw badInput(`subnet ${r.subnetId} does not exist`, r.field);
    return subnet;
  }

  private async validateWithPlugin(em: EntityManager, loaded: LoadedKind, resource: PluginResource, core: CoreReads): Promise<void> {
    const validate = loaded.plugin.controller?.validate;
    if (!validate) return;
    try {
      await validate.call(loaded.plugin.controller, toSdkResource(resource), databaseIntentView(em, loaded.plugin, resource.id, core));
    } catch (error) {
      throw fromPluginError(error);
    }
  }
}

