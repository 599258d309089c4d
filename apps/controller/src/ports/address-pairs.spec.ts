import { NetloomError } from '@netloom/model';
import { MAX_ADDRESS_PAIRS, portSecuritySettings } from './address-pairs';

const fresh = { portSecurity: true, allowedAddressPairs: [] };
const codeOf = (fn: () => unknown): { code: string; field?: string } => {
  try {
    fn();
  } catch (error) {
    if (error instanceof NetloomError) return { code: error.code, field: error.field };
    throw error;
  }
  throw new Error('did not throw');
};

describe('portSecuritySettings', () => {
  it('defaults to security on and no pairs, and keeps what an update does not name', () => {
    expect(portSecuritySettings(fresh, {}, 'input')).toEqual(fresh);
    const current = { portSecurity: true, allowedAddressPairs: [{ ipAddress: '10.0.0.9', macAddress: null }] };
    expect(portSecuritySettings(current, { portSecurity: null, allowedAddressPairs: null }, 'input')).toEqual(current);
  });

  it('takes any address or CIDR and a unicast MAC, in canonical form', () => {
    const out = portSecuritySettings(
      fresh,
      {
        allowedAddressPairs: [
          { ipAddress: '192.0.2.7' },
          { ipAddress: '2001:DB8:0:0::5', macAddress: '00-00-5E-00-01-07' },
          { ipAddress: '0.0.0.0/0' },
          { ipAddress: '2001:db8::/64', macAddress: null },
        ],
      },
      'input',
    );
    expect(out.allowedAddressPairs).toEqual([
      { ipAddress: '192.0.2.7', macAddress: null },
      { ipAddress: '2001:db8::5', macAddress: '00:00:5e:00:01:07' },
      { ipAddress: '0.0.0.0/0', macAddress: null },
      { ipAddress: '2001:db8::/64', macAddress: null },
    ]);
  });

  it('refuses bad addresses, MACs, duplicates and too many pairs, naming the field', () => {
    const pairs = (...list: { ipAddress: string; macAddress?: string }[]) => ({ allowedAddressPairs: list });
    expect(codeOf(() => portSecuritySettings(fresh, pairs({ ipAddress: '10.0.0.300' }), 'input'))).toMatchObject({ field: 'input.allowedAddressPairs.0.ipAddress' });
    expect(codeOf(() => portSecuritySettings(fresh, pairs({ ipAddress: '10.0.0.1/24' }), 'input')).field).toBe('input.allowedAddressPairs.0.ipAddress');
    expect(codeOf(() => portSecuritySettings(fresh, pairs({ ipAddress: '10.0.0.1', macAddress: '01:00:5e:00:00:01' }), 'input')).field).toBe(
      'input.allowedAddressPairs.0.macAddress',
    );
    expect(codeOf(() => portSecuritySettings(fresh, pairs({ ipAddress: '10.0.0.1' }, { ipAddress: '10.0.0.1' }), 'input')).field).toBe('input.allowedAddressPairs.1');
    const many = Array.from({ length: MAX_ADDRESS_PAIRS + 1 }, (_, i) => ({ ipAddress: `10.0.0.${i + 1}` }));
    expect(codeOf(() => portSecuritySettings(fresh, pairs(...many), 'input')).field).toBe('input.allowedAddressPairs');
  });

  it('refuses pairs on a port without port security, whichever side the change comes from', () => {
    expect(codeOf(() => portSecuritySettings(fresh, { portSecurity: false, allowedAddressPairs: [{ ipAddress: '10.0.0.1' }] }, 'input')).field).toBe(
      'input.allowedAddressPairs',
    );
    const withPairs = { portSecurity: true, allowedAddressPairs: [{ ipAddress: '10.0.0.9', macAddress: null }] };
    expect(codeOf(() => portSecuritySettings(withPairs, { portSecurity: false }, 'input')).field).toBe('input.portSecurity');
    expect(portSecuritySettings(withPairs, { portSecurity: false, allowedAddressPairs: [] }, 'input')).toEqual({ portSecurity: false, allowedAddressPairs: [] });
  });
});
