import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { execute, GraphQLSchema, parse } from 'graphql';
import { DataSource } from 'typeorm';
import { badInput, DesiredResource, NetloomError } from '@netloom/model';
import { checkPrefix, Names } from '@netloom/planner';
import { ChangesService } from '../changes/changes.service';
import type { GraphQLContext } from '../graphql.config';
import { Loaders } from '../loaders/loaders';
import { PluginPlacementService } from '../plugin-kinds/plugin-placement.service';
import { DispatcherService } from '../realization/dispatcher.service';
import { IntentStore } from '../realization/intent-store';
import { Realizer } from '../realization/realizer';
import { HostPlan, Plan, PlanChange, PlanStepInput, PlanStepResult } from './dto/plan.types';
import { planHost } from './host-plan';
import { idsIn, parseSteps, resolveRefs, Step, stepLabel, stepOperation } from './steps';

/** The agent's default name prefix (its `--prefix`), assumed for a host whose agent did not report one here. */
const DEFAULT_PREFIX = 'nl';

export const ASSUMPTION =
  'each host is at its applied revision: the kernel lines are what its agent would run to go from the desired state it has to the one this change gives it';

/**
 * The `plan` query: the proposed mutations run for real, through their own resolvers, in one
 * write transaction that is rolled back (`ChangesService.dryRun`); inside it the intent is read
 * before and after, each host's desired state is compiled by the realizer with the plugins'
 * placers (the dispatcher's code), and the agent's planner turns the difference into lines.
 */
@Injectable()
export class PlanService {
  constructor(
    private readonly changes: ChangesService,
    private readonly dispatcher: DispatcherService,
    private readonly plugins: PluginPlacementService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  plan(inputs: PlanStepInput[], schema: GraphQLSchema, context: GraphQLContext): Promise<Plan> {
    const steps = parseSteps(inputs, schema);
    return this.changes.dryRun(async (tx) => {
      const store = new IntentStore();
      await store.loadAll(tx.em);
      const realizer = new Realizer(store, (kind) => this.plugins.placerOf(kind), (hostId) => this.dispatcher.inSpan(hostId));
      await realizer.rebuild();
      const before = new Map(realizer.hostIds().map((h) => [h, realizer.resourcesOf(h)]));
      const names = new Map<string, string>();
      const remember = (): void => {
        for (const rows of [store.hosts, store.networks, store.ports, store.resources]) for (const [id, row] of rows) names.set(id, row.name);
      };
      remember();

      const made = new Map<string, string[]>();
      const results: PlanStepResult[] = [];
      for (const step of steps) {
        const ids = await this.run(step, made, schema, context);
        if (step.name) made.set(step.name, ids);
        results.push({ name: step.name, mutation: step.mutation, ids });
      }

      const deltas = await realizer.apply(await store.refresh(tx.em, tx.changes));
      remember();
      const hosts: HostPlan[] = [];
      for (const [hostId, delta] of deltas) {
        const after: DesiredResource[] = delta ? realizer.resourcesOf(hostId) : [];
        const reported = this.reportedPrefix(hostId);
        const prefix = reported ?? DEFAULT_PREFIX;
        const mappings = this.dispatcher.agentProviderMappings(hostId);
        const { resources, portSecurity } = planHost(before.get(hostId) ?? [], after, new Names(prefix, hostId), mappings, this.dispatcher.agentTagsVlans(hostId));
        if (!resources.length && !portSecurity.length) continue;
        hosts.push({
          hostId,
          hostName: names.get(hostId) ?? hostId,
          prefix,
          prefixReported: reported !== undefined,
          resources: resources.map((r) => ({ ...r, name: names.get(r.id) ?? null, change: PlanChange[r.change] })),
          portSecurity,
        });
      }
      hosts.sort((a, b) => a.hostName.localeCompare(b.hostName) || a.hostId.localeCompare(b.hostId));
      return { assumption: ASSUMPTION, steps: results, hosts };
    });
  }

  /** The agent's prefix, when it reported a valid one. */
  private reportedPrefix(hostId: string): string | undefined {
    const prefix = this.dispatcher.agentPrefix(hostId);
    if (typeof prefix !== 'string') return undefined;
    try {
      return checkPrefix(prefix);
    } catch {
      return undefined;
    }
  }

  /** Runs one step as its own mutation operation, with the caller's rights; returns the ids it names. */
  private async run(step: Step, made: ReadonlyMap<string, string[]>, schema: GraphQLSchema, context: GraphQLContext): Promise<string[]> {
    const label = stepLabel(step);
    const args = resolveRefs(step.args, made, `steps.${step.index}.arguments`) as Record<string, unknown>;
    const result = await execute({
      schema,
      document: parse(stepOperation(schema, step)),
      variableValues: args,
      // Its own loaders: what earlier steps wrote is read afresh.
      contextValue: { ...context, loaders: new Loaders(this.dataSource) },
    });
    const error = result.errors?.[0];
    if (!error) return idsIn(result.data?.result);
    const original = error.originalError;
    const field = (e: NetloomError): string | undefined => (e.field ? `steps.${step.index}.arguments.${e.field}` : undefined);
    if (original instanceof NetloomError) throw new NetloomError(original.code, `${label}: ${original.message}`, field(original));
    // No path: the arguments did not fit the mutation's types (graphql-js coerces variables before any resolver).
    if (!error.path) throw badInput(`${label}: ${error.message}`, `steps.${step.index}.arguments`);
    throw original ?? error;
  }
}
