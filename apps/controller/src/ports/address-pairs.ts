import { badInput } from '@netloom/model';
import { normalizeMac, parseCidr, parseIp } from '../ipam/ipam';
import { AllowedAddressPairInput } from './dto/port.inputs';
import { AllowedAddressPair, MAX_ADDRESS_PAIRS } from './port.entity';

export { MAX_ADDRESS_PAIRS };

/**
 * The port-security settings a create or update leaves on a port (pure). Pairs take any address
 * or CIDR (host bits clear), as in Neutron, and a unicast MAC; they need port security on (a port
 * without it may send anything anyway). Canonical text, duplicates refused.
 */
export function portSecuritySettings(
  current: { portSecurity: boolean; allowedAddressPairs: AllowedAddressPair[] },
  input: { portSecurity?: boolean | null; allowedAddressPairs?: AllowedAddressPairInput[] | null },
  field: string,
): { portSecurity: boolean; allowedAddressPairs: AllowedAddressPair[] } {
  const portSecurity = input.portSecurity ?? current.portSecurity;
  const allowedAddressPairs =
    input.allowedAddressPairs === undefined || input.allowedAddressPairs === null
      ? current.allowedAddressPairs
      : normalizePairs(input.allowedAddressPairs, `${field}.allowedAddressPairs`);
  if (!portSecurity && allowedAddressPairs.length > 0) {
    const at = input.allowedAddressPairs ? 'allowedAddressPairs' : 'portSecurity';
    throw badInput('allowed address pairs need port security: remove them to turn it off', `${field}.${at}`);
  }
  return { portSecurity, allowedAddressPairs };
}

function normalizePairs(pairs: AllowedAddressPairInput[], field: string): AllowedAddressPair[] {
  if (pairs.length > MAX_ADDRESS_PAIRS) throw badInput(`at most ${MAX_ADDRESS_PAIRS} allowed address pairs, got ${pairs.length}`, field);
  const seen = new Set<string>();
  return pairs.map((pair, i) => {
    const at = `${field}.${i}`;
    const ipAddress = pair.ipAddress.includes('/')
      ? parseCidr(pair.ipAddress, `${at}.ipAddress`, { subnet: false }).cidr
      : parseIp(pair.ipAddress, `${at}.ipAddress`).text;
    const macAddress = pair.macAddress === undefined || pair.macAddress === null ? null : normalizeMac(pair.macAddress, `${at}.macAddress`);
    const key = `${ipAddress}|${macAddress ?? ''}`;
    if (seen.has(key)) throw badInput(`allowed address pair ${ipAddress}${macAddress ? ` ${macAddress}` : ''} is listed twice`, at);
    seen.add(key);
    return { ipAddress, macAddress };
  });
}
