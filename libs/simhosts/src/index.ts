/**
 * @netloom/simhosts — simulated hosts on one machine, for tests, benchmarks and the demo: K
 * network namespaces joined by an underlay bridge, each able to run a real agent process.
 */
export { type AgentHandle, type StartAgentOptions } from './agent-handle';
export { DEFAULT_UNDERLAY_CIDR, DEFAULT_UNDERLAY_MTU, type SimHost, UNDERLAY_BRIDGE, UNDERLAY_IF } from './layout';
export { endChild, MARKER } from './processes';
export { SimulatedHosts, type SimHostsOptions, type StaleReport } from './simulated-hosts';
export { ControllerProcess, type ControllerOptions, errorCode, type GqlResult } from './controller-process';
export { FakeAgent } from './fake-agent';
export { dist, REPO_ROOT } from './paths';
export { Cluster, type ClusterOptions } from './cluster';
export { OutputLines } from './output-lines';
export { type ExecResult, netnsExec, ping, run, sleep, type Truthy, waitFor } from './commands';
export { askMany, askTcp, tally } from './tcp-probe';
export { attr, Lab, type Net, type NetnsProcess, PEER_ADDRESS, type PortSpec, type PortView, STATUS_FIELDS, type StatusView } from './lab';
