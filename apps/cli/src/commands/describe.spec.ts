import { formatDescription } from './describe';
import { statusSection } from '../kinds/describe-helpers';

describe('formatDescription', () => {
  it('aligns the fields, indents nested values and sections, and leaves no trailing blanks', () => {
    expect(
      formatDescription({
        fields: [
          ['Name', 'lb1'],
          ['listeners', '\n  - port: 80'],
        ],
        sections: [{ title: 'Status', lines: ['h1  FAILED: no route', '  netns: nlr1'] }],
      }),
    ).toBe(['Name:      lb1', 'listeners:', '  - port: 80', 'Status:', '  h1  FAILED: no route', '    netns: nlr1'].join('\n'));
  });
});

describe('the Status section', () => {
  it('gives each host its state and reason, then what its agent realized and observes', () => {
    const section = statusSection(
      [
        {
          hostId: 'b',
          host: { name: 'h2' },
          state: 'APPLIED',
          generation: 2,
          attributes: [{ key: 'netns', value: 'nll1' }],
          observed: { __typename: 'LoadBalancerObserved', operatingStatus: 'DEGRADED', lastCheck: null },
        },
        { hostId: 'a', host: { name: 'h1' }, state: 'FAILED', generation: 2, reason: 'nft: syntax error' },
      ],
      2,
    );
    expect(section).toEqual({
      title: 'Status',
      lines: ['h1  FAILED: nft: syntax error', 'h2  APPLIED', '  netns: nll1', '  observed:', '    __typename: LoadBalancerObserved', '    operatingStatus: DEGRADED'],
    });
    expect(statusSection([], 1).lines).toEqual(['<no host reported>']);
  });
});
