import { ErrorCode } from './errors';
import { parseProviderMappings, providerMappingsOf, validatePhysicalNetwork, validateVlanId } from './provider';

describe('provider networks: names, VLANs and mappings', () => {
  it.each(['physnet1', 'P', 'ext_lan.2-a', 'p'.repeat(32)])('accepts the physical network %j', (name) => {
    expect(validatePhysicalNetwork(name, 'f')).toBe(name);
  });

  it.each(['', '1abc', '-x', 'p'.repeat(33), 'a b', 'a:b', '$(x)', 'a/b'])('refuses the physical network %j with BAD_USER_INPUT', (name) => {
    expect(() => validatePhysicalNetwork(name, 'input.providerInterface')).toThrow(
      expect.objectContaining({ code: ErrorCode.BadUserInput, field: 'input.providerInterface' }),
    );
  });

  it('takes VLAN ids 1-4094 only', () => {
    expect(validateVlanId(1, 'f')).toBe(1);
    expect(validateVlanId(4094, 'f')).toBe(4094);
    for (const bad of [0, 4095, -1, 1.5]) expect(() => validateVlanId(bad, 'f')).toThrow(expect.objectContaining({ code: ErrorCode.BadUserInput }));
  });

  it('parses PHYSNET:IFACE mappings, sorted', () => {
    expect(parseProviderMappings(['physnet2:eth2', 'physnet1:eth1'])).toEqual([
      { physicalNetwork: 'physnet1', interface: 'eth1' },
      { physicalNetwork: 'physnet2', interface: 'eth2' },
    ]);
  });

  it.each([
    [['physnet1'], /not PHYSNET:INTERFACE/],
    [['physnet1:eth1:x'], /not PHYSNET:INTERFACE/],
    [['physnet1:'], /not PHYSNET:INTERFACE/],
    [['physnet1:sixteen-letters-x'], /not PHYSNET:INTERFACE/],
    [['physnet1:eth 1'], /not PHYSNET:INTERFACE/],
    [['physnet1:-eth1'], /not PHYSNET:INTERFACE/],
    [['1phys:eth1'], /not PHYSNET:INTERFACE/],
    [['physnet1:eth1', 'physnet1:eth2'], /mapped twice/],
    [['physnet1:eth1', 'physnet2:eth1'], /two physical networks/],
  ])('refuses %j', (list, message) => {
    expect(() => parseProviderMappings(list)).toThrow(message);
  });

  it('keeps the well-formed mappings a hello carries, each physical network once', () => {
    expect(providerMappingsOf(undefined)).toEqual([]);
    expect(providerMappingsOf('physnet1:eth1')).toEqual([]);
    expect(
      providerMappingsOf([
        { physicalNetwork: 'physnet2', interface: 'eth2' },
        { physicalNetwork: 'physnet1', interface: 'eth1;reboot' },
        null,
        { physicalNetwork: 'physnet2', interface: 'eth9' },
        { physicalNetwork: 'physnet1', interface: 'eth1' },
      ]),
    ).toEqual([
      { physicalNetwork: 'physnet1', interface: 'eth1' },
      { physicalNetwork: 'physnet2', interface: 'eth2' },
    ]);
  });
});
