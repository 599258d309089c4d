/**
 * @netloom/plugin-sdk — the only module a NetLoom plugin imports (its test kits:
 * `@netloom/plugin-sdk/testing`). Version {@link SDK_SEMVER}; its public surface is recorded in
 * `libs/plugin-sdk/api/*.api.md` by API Extractor (a test fails when the two differ, so a change
 * to it shows in review).
 */
export { badInput, conflict, ErrorCode, NetloomError, notFound, RealizationState } from '@netloom/model';
export {
  type EnumField,
  type Fields,
  type FieldOptions,
  type FieldType,
  type FieldValue,
  type Infer,
  type InferField,
  type InferFields,
  type ListField,
  type NamedTypeOptions,
  type ObjectField,
  type RefField,
  type ScalarField,
  type ScalarKind,
  t,
} from './fields';
export type { LinkInfo } from '@netloom/linux';
export { type FilterableRow, type IntentFilter, matchesFilter } from './intent-filter';
export { deriveMac, subnetContaining } from './net';
export type {
  ApplyResult,
  BridgeRouting,
  ChangeSet,
  DaemonSpec,
  DaemonState,
  HostContext,
  LinkChanges,
  LinkView,
  NftMapElement,
  PortPlace,
  ProbeCheck,
  ProbeResult,
  TcCounters,
  TcDevice,
  TcHtb,
  TcHtbClass,
  TcStats,
  TcTbf,
} from './host-context';
export { BRIDGE_ROUTING_PREF } from './bridge-routing';
export { ProbeHelpers } from './probe-helper';
export { createHostContext, type HostContextOptions, type ManagedHostContext } from './host-context-impl';
export { spreadOverHosts } from './scheduling';
export { inParallel } from './parallel';
export { type ChainHook, nftBaseChain } from './nft';
export { type Appliance, type ApplianceLeg, type ApplianceOutcome, reconcileAppliances } from './appliance';
export {
  type AddressReservation,
  type AgentHalf,
  type CheckedAgentHalf,
  checkPlugin,
  type ControllerHalf,
  definePlugin,
  type DesiredPluginResource,
  type IntentView,
  type KindDefinition,
  type Kinds,
  type ObservedOf,
  type ObservedOfKinds,
  type Placement,
  type PluginDefinition,
  type PluginResource,
  type PluginStatus,
  type ResourceOf,
  SDK_SEMVER,
  SDK_VERSION,
  type SpecOf,
} from './plugin';
