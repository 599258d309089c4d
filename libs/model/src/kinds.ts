/** The core resource kinds. Plugin kinds are added by plugins and are plain strings. */
export enum ResourceKind {
  Host = 'Host',
  Network = 'Network',
  Subnet = 'Subnet',
  Port = 'Port',
}

/** What happened to a resource in one entry of the change feed. */
export enum ChangeOperation {
  CREATE = 'CREATE',
  UPDATE = 'UPDATE',
  DELETE = 'DELETE',
}

/** Realization status of a resource on one host. */
export enum RealizationState {
  PENDING = 'PENDING',
  APPLIED = 'APPLIED',
  FAILED = 'FAILED',
}
