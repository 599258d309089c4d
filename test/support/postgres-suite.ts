// Setup of the e2e-postgres jest project: the test file runs against a throwaway PostgreSQL
// cluster, and every controller `useController` starts gets a database of its own on it.
import { useTestDatabases } from './fixtures';
import { PostgresCluster } from './postgres';

let cluster: PostgresCluster | undefined;

beforeAll(async () => {
  cluster = await PostgresCluster.create();
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
});

useTestDatabases(() => {
  if (!cluster) throw new Error('the PostgreSQL cluster did not start');
  return cluster.createDatabase();
});
