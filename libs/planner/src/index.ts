// The agent's pure planning, shared by the agent (which applies it) and the controller (whose
// `plan` query shows it before a change is made): Linux names, the ip/bridge plan, port security.
export { checkPrefix, Names } from './naming';
export { FLOOD_MAC, networksToInspect, plan, portsToInspect, providerLayout, specHash, type Observed, type OverlayEntries, type Plan, type PlanFailure, type PlanInput, type Uplink } from './plan';
export { CHECK_RULES, droppedByPort, linkLocal, planPortSecurity, portElements, portSecurityState, type PortSecurityPlan, type PortSecurityState } from './port-security';
