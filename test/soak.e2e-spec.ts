// A short run of the soak (bench/soak.bench.ts) from the build, as an operator would run it:
// churn through the API on 3 simulated hosts while agents and the controller are killed -9; it
// must end CLEAN (every acknowledged write kept, converged, ports reaching each other, no leak,
// no crash). The full 10-minute run is `npm run bench:soak`.
import { run } from './support/agent';
import { dist } from './support/paths';

jest.setTimeout(300_000);

it('a 40 s soak with a kill every ~8 s ends CLEAN', async () => {
  const result = await run(process.execPath, [dist('bench/soak.bench.js'), '--seconds', '40', '--kill-every', '8'], 280_000);
  process.stdout.write(`soak e2e:\n${result.stdout}`);
  expect(result.stdout).toContain('result: CLEAN');
  expect(result).toMatchObject({ code: 0 });
  // It did kill something, or it proves nothing about kills.
  expect(result.stdout).toMatch(/kills survived: (\d+) agents, (\d+) controller/);
  const [, agents, controllers] = /kills survived: (\d+) agents, (\d+) controller/.exec(result.stdout)!;
  expect(Number(agents) + Number(controllers)).toBeGreaterThan(0);
});
