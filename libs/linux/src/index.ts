/**
 * @netloom/linux — the one door to the kernel: typed wrappers over `ip`, `bridge`, `nft` and
 * `sysctl`. Each method is one command or one batch and holds no decisions.
 */
export { LinuxBatchAbortedError, parseBatchErrors, wholeBatchFailed, type ParsedBatchErrors } from './batch-result';
export { BridgeBatch } from './bridge-batch';
export {
  IpBatch,
  type BatchLine,
  type NetlinkOp,
  type LinkSetOptions,
  type RouteDelSpec,
  type RouteSpec,
  type RuleSpec,
  type VethAddOptions,
  type VxlanAddOptions,
} from './ip-batch';
export { DEFAULT_BATCH_CONCURRENCY, Linux, NETNS_DIR } from './linux';
export {
  assertTcHandle,
  assertTcRate,
  assertTcSize,
  BPF_OBJECT_DIR,
  TcBatch,
  type TcAction,
  type TcClassSpec,
  type TcFilterSpec,
  type TcMatch,
  type TcParent,
  type TcQdiscKind,
  type TcQdiscSpec,
} from './tc-batch';
export { parseTcClasses, parseTcFilters, parseTcQdiscs } from './tc-parse';
export { vlanProgramCode, vlanProgramFile, vlanProgramObject, type VlanProgram } from './bpf-vlan';
export type { LinkMonitor } from './monitor';
export { NETLINK_PYTHON, NetlinkHelper, netlinkHelper, type NetlinkAnswer, type NetlinkLinkAnswer } from './netlink';
export {
  assertAlias,
  assertCidrAddr,
  assertIfName,
  assertIp,
  assertMac,
  assertMtu,
  assertNetnsName,
  assertNftName,
  assertPort,
  assertRouteTable,
  assertRulePref,
  assertSysctlKey,
  assertSysctlValue,
  assertVni,
  cidrFamily,
  ipFamily,
  LinuxInputError,
  sysctlPath,
} from './names';
export { parseLinkEvent, parseNftMonitorLine } from './parse';
export {
  COMMAND_TIMEOUT_MS,
  CommandRunner,
  LinuxCommandError,
  type CommandLog,
  type CommandResult,
  type LinuxCommand,
  type RunnerOptions,
  type RunOptions,
  type StreamHandle,
} from './runner';
export type * from './types';
