import { InitialSchema1764100000000 } from './1764100000000-InitialSchema';
import { AgentChannel1764200000000 } from './1764200000000-AgentChannel';
import { HostUnderlayMtu1764300000000 } from './1764300000000-HostUnderlayMtu';
import { PluginResources1764400000000 } from './1764400000000-PluginResources';
import { PluginAddressReservations1764500000000 } from './1764500000000-PluginAddressReservations';
import { StatusObserved1764600000000 } from './1764600000000-StatusObserved';
import { HostAgentDroppedStatuses1764710000000 } from './1764710000000-HostAgentDroppedStatuses';
import { JoinRetryAndStateError1764720000000 } from './1764720000000-JoinRetryAndStateError';
import { PortSecurity1764750000000 } from './1764750000000-PortSecurity';
import { PostgresAllocationPortKey1764790000000 } from './1764790000000-PostgresAllocationPortKey';
import { ReplicaPresence1764800000000 } from './1764800000000-ReplicaPresence';
import { AuditLog1764900000000 } from './1764900000000-AuditLog';
import { ProviderNetworks1764950000000 } from './1764950000000-ProviderNetworks';

/** Every migration, oldest first. Listed by hand so the build and jest load the same classes. */
export const MIGRATIONS = [
  InitialSchema1764100000000,
  AgentChannel1764200000000,
  HostUnderlayMtu1764300000000,
  PluginResources1764400000000,
  PluginAddressReservations1764500000000,
  StatusObserved1764600000000,
  HostAgentDroppedStatuses1764710000000,
  JoinRetryAndStateError1764720000000,
  PortSecurity1764750000000,
  PostgresAllocationPortKey1764790000000,
  ReplicaPresence1764800000000,
  AuditLog1764900000000,
  ProviderNetworks1764950000000,
];
