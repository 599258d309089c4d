/**
 * @netloom/plugin-sdk — the only module a NetLoom plugin imports. Version {@link SDK_VERSION};
 * its public surface is recorded in `libs/plugin-sdk/api-report.d.ts` (a test fails when the two
 * differ, so a change to it shows in review).
 */
export { badInput, conflict, ErrorCode, NetloomError, notFound, RealizationState } from '@netloom/model';
export { type FieldType, t } from './fields';
export { type FilterableRow, type IntentFilter, matchesFilter } from './intent-filter';
export { deriveMac, subnetContaining } from './net';
export type { ApplyResult, ChangeSet, HostContext, LinkChanges, LinkView, NftMapElement, PortPlace, ProbeCheck, ProbeResult } from './host-context';
export { ProbeHelpers } from './probe-helper';
export { createHostContext, type HostContextOptions, type ManagedHostContext } from './host-context-impl';
export { spreadOverHosts } from './scheduling';
export { inParallel } from './parallel';
export { type ChainHook, nftBaseChain } from './nft';
export { type Appliance, type ApplianceLeg, type ApplianceOutcome, reconcileAppliances } from './appliance';
export { agentTestHost, type AgentTestHost } from './testkit-agent';
export {
  type AddressReservation,
  type AgentHalf,
  checkPlugin,
  type ControllerHalf,
  definePlugin,
  type DesiredPluginResource,
  type IntentView,
  type KindDefinition,
  type Placement,
  type PluginDefinition,
  type PluginResource,
  type PluginStatus,
  SDK_VERSION,
} from './plugin';
export { type InMemoryIntent, inMemoryIntent, runController } from './testkit-controller';
