import { formatDescription } from './describe';

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
