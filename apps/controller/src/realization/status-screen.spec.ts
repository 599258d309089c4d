import { RealizationState } from '@netloom/model';
import { MAX_STATUS_ATTRIBUTE_BYTES, MAX_STATUS_ATTRIBUTES, MAX_STATUS_REASON_CHARS } from '@netloom/protocol';
import { describeDropped, KeyStanding, screenAck } from './status-screen';

const MINE = '01900000-0000-7000-8000-000000000001';
const GONE = '01900000-0000-7000-8000-000000000002';
const OTHERS = '01900000-0000-7000-8000-000000000003';
const standing = (key: string): KeyStanding => ({ [`Port/${MINE}`]: 'sent', [`Network/${MINE}`]: 'sent', [`Port/${GONE}`]: 'retired' })[key] as KeyStanding;
const status = (over: Record<string, unknown> = {}) => ({ kind: 'Port', id: MINE, generation: 1, state: RealizationState.APPLIED, attributes: { netns: 'ns1' }, ...over });

describe('screenAck', () => {
  it('keeps statuses of resources sent to the host, normalized', () => {
    const screened = screenAck(
      [status({ state: 'BOGUS', reason: 'r'.repeat(MAX_STATUS_REASON_CHARS + 10) }), { kind: 'Network', id: MINE, generation: 2, state: 'APPLIED', observed: null }],
      standing,
      3,
    );
    expect(screened.droppedTotal).toBe(0);
    expect(screened.accepted).toEqual([
      { kind: 'Port', id: MINE, generation: 1, state: RealizationState.FAILED, reason: 'r'.repeat(MAX_STATUS_REASON_CHARS), attributes: { netns: 'ns1' } },
      { kind: 'Network', id: MINE, generation: 2, state: RealizationState.APPLIED, attributes: {}, observed: null },
    ]);
    expect([...screened.listed]).toEqual([`Port/${MINE}`, `Network/${MINE}`]);
  });

  it("drops and counts another host's resource, an unknown one, a repeat, and oversized or malformed statuses", () => {
    const statuses = [
      status({ id: OTHERS, state: RealizationState.FAILED }),
      status({ kind: 'Network', id: OTHERS }),
      status({ attributes: { big: 'x'.repeat(MAX_STATUS_ATTRIBUTE_BYTES) } }),
      status({ attributes: Object.fromEntries(Array.from({ length: MAX_STATUS_ATTRIBUTES + 1 }, (_, i) => [`k${i}`, 'v'])) }),
      status({ kind: 'Network', attributes: { n: 5 } }),
      status({ kind: ['Port'] }),
      status({ generation: 1.5 }),
      'not a status',
      status({ kind: 'Network', attributes: undefined }),
      status({ kind: 'Network', state: RealizationState.FAILED }),
    ];
    const screened = screenAck(statuses, standing, 20);
    expect(screened.accepted).toEqual([{ kind: 'Network', id: MINE, generation: 1, state: RealizationState.APPLIED, attributes: {} }]);
    expect(screened.dropped).toEqual({ notSent: 2, repeated: 1, overCount: 0, oversized: 2, malformed: 4 });
    expect(screened.droppedTotal).toBe(9);
    // Oversized ones name a resource of the host: a full ack keeps its stored status.
    expect([...screened.listed].sort()).toEqual([`Network/${MINE}`, `Port/${MINE}`]);
    expect(describeDropped(screened, statuses.length)).toBe('9 of 10 statuses dropped (2 not sent to this host, 1 repeated, 2 oversized, 4 malformed)');
  });

  it('ignores, without counting, a resource deleted from the host since', () => {
    const screened = screenAck([status({ id: GONE }), status()], standing, 3);
    expect(screened.accepted.map((s) => s.id)).toEqual([MINE]);
    expect(screened.droppedTotal).toBe(0);
  });

  it('reads no more statuses than the host may report', () => {
    const many = Array.from({ length: 20_000 }, (_, i) => status({ id: `unknown-${i}` }));
    const screened = screenAck([...many, status()], standing, 3);
    expect(screened.accepted).toEqual([]);
    expect(screened.dropped).toEqual({ notSent: 3, repeated: 0, overCount: 19_998, oversized: 0, malformed: 0 });
    expect(screened.droppedTotal).toBe(20_001);
  });
});
