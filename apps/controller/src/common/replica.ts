import { hostname } from 'node:os';

/**
 * This controller process among the replicas sharing one database (`host:pid`): stored with the
 * agent channels it holds, so the others know where an agent is served.
 */
export const REPLICA_ID = `${hostname()}:${process.pid}`.slice(0, 80);
