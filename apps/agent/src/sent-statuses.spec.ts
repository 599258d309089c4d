import { RealizationState, ResourceStatusReport } from '@netloom/model';
import { SentStatuses } from './sent-statuses';

const status = (id: string, extra: Partial<ResourceStatusReport> = {}): ResourceStatusReport => ({
  kind: 'Port',
  id,
  generation: 1,
  state: RealizationState.APPLIED,
  attributes: { netns: `ns-${id}`, droppedSpoofedPackets: '0' },
  ...extra,
});

describe('SentStatuses', () => {
  it('sends every status the first time and when told to be full, then only what changed', () => {
    const sent = new SentStatuses();
    expect(sent.changes([status('a'), status('b')], false)).toHaveLength(2);
    // Equal but new objects (a pass builds them again): nothing.
    expect(sent.changes([status('a'), status('b')], false)).toEqual([]);
    expect(sent.changes([status('a'), status('b')], true)).toHaveLength(2);
  });

  it('sees a change in any field: state, generation, reason, an attribute, observed state', () => {
    const changes: Partial<ResourceStatusReport>[] = [
      { state: RealizationState.FAILED, reason: 'x' },
      { generation: 2 },
      { attributes: { netns: 'ns-a', droppedSpoofedPackets: '3' } },
      { attributes: { netns: 'ns-a' } },
      { attributes: { netns: 'ns-a', droppedSpoofedPackets: '0', more: '1' } },
      { observed: { members: [{ name: 'm', state: 'ONLINE' }] } },
      { observed: { members: [{ name: 'm', state: 'OFFLINE' }] } },
    ];
    const sent = new SentStatuses();
    sent.changes([status('a')], false);
    for (const change of changes) {
      expect(sent.changes([status('a', change)], false)).toEqual([status('a', change)]);
      expect(sent.changes([status('a', change)], false)).toEqual([]);
    }
  });

  it('leaves out an observed state already sent when the status goes again for another reason (all of it when full)', () => {
    const observed = { rules: [{ priority: 1, packets: 5 }] };
    const sent = new SentStatuses();
    expect(sent.changes([status('a', { observed })], false)).toEqual([status('a', { observed })]);
    // A new generation, the same counters: the controller keeps what it has.
    expect(sent.changes([status('a', { generation: 2, observed: { rules: [{ priority: 1, packets: 5 }] } })], false)).toEqual([status('a', { generation: 2 })]);
    // Counters that moved go with it; a full ack carries everything.
    expect(sent.changes([status('a', { generation: 3, observed: { rules: [{ priority: 1, packets: 6 }] } })], false)).toEqual([status('a', { generation: 3, observed: { rules: [{ priority: 1, packets: 6 }] } })]);
    expect(sent.changes([status('a', { generation: 3, observed: { rules: [{ priority: 1, packets: 6 }] } })], true)).toEqual([status('a', { generation: 3, observed: { rules: [{ priority: 1, packets: 6 }] } })]);
  });

  it('forgets a resource no longer reported: it is sent again when it comes back', () => {
    const sent = new SentStatuses();
    sent.changes([status('a'), status('b')], false);
    sent.changes([status('a')], false);
    expect(sent.changes([status('a'), status('b')], false)).toEqual([status('b')]);
  });
});
