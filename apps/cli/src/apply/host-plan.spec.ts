import { commandLine, formatHostPlans } from './host-plan';

describe('formatHostPlans', () => {
  it('prints by host, then resource, with each command as typed; a plugin kind by its fields', () => {
    const text = formatHostPlans({
      assumption: 'each host is at its applied revision',
      hosts: [
        {
          hostId: 'h1',
          hostName: 'alpha',
          prefix: 'nl',
          prefixReported: true,
          resources: [
            {
              kind: 'Port',
              id: 'p1',
              name: 'web',
              change: 'CREATED',
              byPlugin: false,
              problems: [],
              fields: [],
              commands: [
                { tool: 'ip', netns: null, line: 'netns add nl-abc-1' },
                { tool: 'ip', netns: 'nl-abc-1', line: 'link set dev eth0 up' },
              ],
            },
            { kind: 'Router', id: 'r1', name: null, change: 'CHANGED', byPlugin: true, problems: [], commands: [], fields: [{ field: 'routes', before: null, after: '[]' }] },
            { kind: 'Port', id: 'p2', name: 'db', change: 'CHANGED', byPlugin: false, problems: ['namespace x does not exist'], fields: [], commands: [] },
            { kind: 'Network', id: 'n1', name: 'blue', change: 'CHANGED', byPlugin: false, problems: [], fields: [], commands: [] },
          ],
          portSecurity: [{ tool: 'nft', netns: null, line: 'add element bridge nl_portsec s_ports { "nlv1" }' }],
        },
        { hostId: 'h2', hostName: 'beta', prefix: 'nl', prefixReported: false, resources: [{ kind: 'Port', id: 'p3', name: 'old', change: 'DELETED', byPlugin: false, problems: [], fields: [], commands: [{ tool: 'bridge', netns: null, line: 'fdb del x' }] }], portSecurity: [] },
      ],
    });
    expect(text.split('\n')).toEqual([
      'Per host (each host is at its applied revision; what is created gets its id, and the names and MAC derived from it, when applied):',
      'host alpha (names with prefix nl)',
      '  + Port web',
      '      ip netns add nl-abc-1',
      '      ip -n nl-abc-1 link set dev eth0 up',
      '  ~ Router r1 (commands decided by its plugin on the host)',
      '      routes: <unset> → []',
      '  ~ Port db',
      '      ! namespace x does not exist',
      '  ~ Network blue',
      '      (no command: the kernel already matches)',
      '  ~ port security (nft -f)',
      '      add element bridge nl_portsec s_ports { "nlv1" }',
      'host beta (agent did not report its prefix: names assume nl)',
      '  - Port old',
      '      bridge fdb del x',
    ]);
  });

  it('says when no host changes', () => {
    expect(formatHostPlans({ assumption: 'x', hosts: [] })).toBe('No host changes.');
    expect(commandLine({ tool: 'nft', netns: null, line: 'list ruleset' })).toBe('nft list ruleset');
  });
});
