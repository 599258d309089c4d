import { DesiredResource, PortSpec, RealizationState, ResourceKind, ResourceStatusReport } from '@netloom/model';
import { heldPorts, release } from './guards';
import { Names } from '@netloom/planner';

const names = new Names('nl', 'host-a');
const port = (id: string, guardedBy?: string[]): DesiredResource<Partial<PortSpec>> => ({
  kind: ResourceKind.Port,
  id,
  generation: 1,
  spec: { networkId: 'net-1', netns: null, ...(guardedBy ? { guardedBy } : {}) },
});
const status = (kind: string, id: string, state: RealizationState, reason?: string): ResourceStatusReport => ({ kind, id, generation: 1, state, ...(reason ? { reason } : {}) });
const desired = [port('p1', ['Fw/a']), port('p2', ['Fw/a', 'Fw/b']), port('p3'), port('p4', ['Odd/x'])];

describe('heldPorts', () => {
  it('holds guarded ports with a guard not APPLIED last pass (or not reported at all)', () => {
    expect(heldPorts(desired, [])).toEqual(new Set(['p1', 'p2', 'p4']));
    const last = [status('Fw', 'a', RealizationState.APPLIED), status('Fw', 'b', RealizationState.FAILED, 'no'), status('Odd', 'x', RealizationState.APPLIED)];
    expect(heldPorts(desired, last)).toEqual(new Set(['p2']));
  });
});

describe('release', () => {
  it('one batch brings up the held-down ports whose guards are all APPLIED now; the others say which guard they wait for, and why', () => {
    const reported = [status('Fw', 'a', RealizationState.APPLIED), status('Fw', 'b', RealizationState.FAILED, 'nft said no')];
    const failures = new Map([['Odd/x', { reason: 'this agent has no plugin for kind Odd' }]]);
    const { up, holds } = release(desired, new Set(['p1', 'p2', 'p4']), reported, failures, names);
    expect(up.lines.map((l) => [l.text, l.key])).toEqual([[`link set dev ${names.veth('p1')} up`, 'Port/p1']]);
    expect(holds).toEqual(
      new Map([
        ['Port/p2', 'held down until Fw/b is applied on this host: nft said no'],
        ['Port/p4', 'held down until Odd/x is applied on this host: this agent has no plugin for kind Odd'],
      ]),
    );
  });

  it('leaves alone ports not left down this pass, and ports that failed otherwise; a guard not reported gives no reason', () => {
    const failures = new Map([['Port/p1', { reason: 'veth missing' }]]);
    const { up, holds } = release(desired, new Set(['p1', 'p2']), [], failures, names);
    expect(up.lines).toEqual([]);
    expect(holds).toEqual(new Map([['Port/p2', 'held down until Fw/a is applied on this host']]));
  });
});
