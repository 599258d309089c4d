import { canTagVlans } from './capabilities';

describe('canTagVlans', () => {
  const config = (lines: string[]): string => ['# Automatically generated file', ...lines, ''].join('\n');

  it('reads the kernel configuration: eBPF, its tc classifier and clsact, built in or modules', () => {
    expect(canTagVlans(config(['CONFIG_BPF_SYSCALL=y', 'CONFIG_NET_CLS_BPF=y', 'CONFIG_NET_SCH_INGRESS=y']), '/nonexistent')).toBe(true);
    expect(canTagVlans(config(['CONFIG_BPF_SYSCALL=y', 'CONFIG_NET_CLS_BPF=m', 'CONFIG_NET_SCH_INGRESS=m']), '/nonexistent')).toBe(true);
    expect(canTagVlans(config(['CONFIG_BPF_SYSCALL=y', '# CONFIG_NET_CLS_BPF is not set', 'CONFIG_NET_SCH_INGRESS=y']), '/nonexistent')).toBe(false);
    expect(canTagVlans(config(['CONFIG_NET_CLS_BPF=y', 'CONFIG_NET_SCH_INGRESS=y']), '/nonexistent')).toBe(false);
    // 802.1Q itself is not needed.
    expect(canTagVlans(config(['# CONFIG_VLAN_8021Q is not set', 'CONFIG_BPF_SYSCALL=y', 'CONFIG_NET_CLS_BPF=y', 'CONFIG_NET_SCH_INGRESS=y']), '/nonexistent')).toBe(true);
  });

  it('without a configuration nor modules to look at, assumes it (tc says otherwise on the status)', () => {
    expect(canTagVlans(undefined, '/nonexistent')).toBe(true);
  });
});
