import { parseBatchErrors } from './batch-result';
import type { BatchLine } from './ip-batch';

const lines: BatchLine[] = [
  { text: 'link add name br0 up type bridge', key: 'net:a' },
  { text: 'link del dev nosuch', key: 'port:x' },
  { text: 'link add name v2 type veth peer name eth1 netns p up' },
  { text: 'addr replace 10.1.1.1/24 dev nosuch', key: 'port:y' },
  { text: 'route replace 10.9.0.0/16 via 10.1.1.9', key: 'route:z' },
];

describe('parseBatchErrors', () => {
  it('maps the stderr of ip 6.1 -force -batch to lines and keys', () => {
    // Captured from `ip -n NS -force -batch -` on iproute2 6.1.
    const stderr = [
      'Cannot find device "nosuch"',
      'Command failed -:2',
      'RTNETLINK answers: Transport endpoint is not connected',
      'Command failed -:3',
      'Cannot find device "nosuch"',
      'Command failed -:4',
      'Error: Nexthop has invalid gateway.',
      'Command failed -:5',
      '',
    ].join('\n');
    expect(parseBatchErrors(stderr, lines)).toEqual({
      trailing: '',
      failed: [
        { line: 2, text: 'link del dev nosuch', key: 'port:x', error: 'Cannot find device "nosuch"' },
        { line: 3, text: 'link add name v2 type veth peer name eth1 netns p up', error: 'RTNETLINK answers: Transport endpoint is not connected' },
        { line: 4, text: 'addr replace 10.1.1.1/24 dev nosuch', key: 'port:y', error: 'Cannot find device "nosuch"' },
        { line: 5, text: 'route replace 10.9.0.0/16 via 10.1.1.9', key: 'route:z', error: 'Error: Nexthop has invalid gateway.' },
      ],
    });
  });

  it('keeps multi-line errors together', () => {
    const stderr = 'Error: first\nsecond line\nCommand failed -:1\n';
    expect(parseBatchErrors(stderr, lines).failed).toEqual([
      { line: 1, text: lines[0].text, key: 'net:a', error: 'Error: first\nsecond line' },
    ]);
  });

  it('reports text after the last marker (ip exited early), ignoring warnings', () => {
    const stderr = 'Cannot find device "nosuch"\nCommand failed -:2\nError: any valid prefix is expected rather than "-6".\n';
    const parsed = parseBatchErrors(stderr, lines);
    expect(parsed.failed.map((f) => f.line)).toEqual([2]);
    expect(parsed.trailing).toBe('Error: any valid prefix is expected rather than "-6".');
    expect(parseBatchErrors('Warning: something harmless\n', lines)).toEqual({ failed: [], trailing: '' });
  });

  it('survives a line number beyond the batch', () => {
    expect(parseBatchErrors('oops\nCommand failed -:9\n', lines).failed).toEqual([{ line: 9, text: '', error: 'oops' }]);
  });

  it('empty stderr: nothing failed', () => {
    expect(parseBatchErrors('', lines)).toEqual({ failed: [], trailing: '' });
  });
});
