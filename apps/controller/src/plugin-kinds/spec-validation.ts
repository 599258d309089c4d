import { badInput, checkListSize } from '@netloom/model';
import { FieldType } from '@netloom/plugin-sdk';
import { parseCidr, parseHostIp } from '../ipam/ipam';

/** A `ref` field's value: it must name an existing resource of `kind`. */
export interface SpecRef {
  kind: string;
  id: string;
  field: string;
  /** Declared `blocksDelete`: the core refuses to delete what it names. */
  blocksDelete?: boolean;
}

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks a spec against a kind's schema (pure): types, required fields, canonical IPs and CIDRs.
 * Returns the canonical spec (optional fields absent become null, lists []) and the refs to check.
 */
export function validateSpec(fields: Record<string, FieldType>, value: unknown, path = 'input'): { spec: Record<string, unknown>; refs: SpecRef[] } {
  const refs: SpecRef[] = [];
  const spec = validateObject(fields, value, path, refs);
  return { spec, refs };
}

function validateObject(fields: Record<string, FieldType>, value: unknown, path: string, refs: SpecRef[]): Record<string, unknown> {
  if (!isPlainObject(value)) throw badInput(`${path} must be an object`, path);
  for (const key of Object.keys(value)) {
    if (!(key in fields)) throw badInput(`${path}.${key} is not a field of this kind`, `${path}.${key}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, type] of Object.entries(fields)) out[key] = validateValue(type, value[key], `${path}.${key}`, refs);
  return out;
}

function validateValue(type: FieldType, value: unknown, path: string, refs: SpecRef[]): unknown {
  if (value === undefined || value === null) {
    if (type.type === 'list') return [];
    if (type.required) throw badInput(`${path} is required`, path);
    return null;
  }
  switch (type.type) {
    case 'object':
      return validateObject(type.fields, value, path, refs);
    case 'list':
      if (!Array.isArray(value)) throw badInput(`${path} must be a list`, path);
      checkListSize(value, path);
      return value.map((item, i) => {
        if (item === null || item === undefined) throw badInput(`${path}.${i} must not be null`, `${path}.${i}`);
        return validateValue(type.of, item, `${path}.${i}`, refs);
      });
    default: {
      const checked = checkScalar(type, value, path);
      if (type.type === 'ref') refs.push({ kind: type.kind, id: checked as string, field: path, ...(type.blocksDelete ? { blocksDelete: true } : {}) });
      return checked;
    }
  }
}

/** A field type that is neither an object nor a list (enums count: they are one value). */
export type ScalarFieldType = Exclude<FieldType, { type: 'object' | 'list' }>;

/** The canonical value of a scalar (non-null) field; throws BAD_USER_INPUT naming `path` when it is not one. */
export function checkScalar(type: ScalarFieldType, value: unknown, path: string): unknown {
  const wrong = (what: string): never => {
    throw badInput(`${path} must be ${what}`, path);
  };
  switch (type.type) {
    case 'string':
      return typeof value === 'string' ? value : wrong('a string');
    case 'int':
      return Number.isInteger(value) && (value as number) >= INT_MIN && (value as number) <= INT_MAX ? value : wrong('a 32-bit integer');
    case 'counter':
      return Number.isSafeInteger(value) && (value as number) >= 0 ? value : wrong('a whole number from 0 to 2^53-1');
    case 'boolean':
      return typeof value === 'boolean' ? value : wrong('true or false');
    case 'ip':
      return typeof value === 'string' ? parseHostIp(value, path, path).text : wrong('an IP address');
    case 'cidr':
      return typeof value === 'string' ? parseCidr(value, path, { subnet: false }).cidr : wrong('a CIDR');
    case 'ref':
      return typeof value === 'string' && value !== '' ? value : wrong(`the id of a ${type.kind}`);
    case 'enum':
      return typeof value === 'string' && type.values.includes(value) ? value : wrong(`one of ${type.values.join(', ')}`);
  }
}

/** The input path of the first spec value equal to `ip` (e.g. `input.address`), to name in an error. */
export function specFieldHolding(spec: unknown, ip: string, path = 'input'): string | undefined {
  if (typeof spec === 'string') return spec === ip ? path : undefined;
  if (spec === null || typeof spec !== 'object') return undefined;
  for (const [key, value] of Object.entries(spec)) {
    const found = specFieldHolding(value, ip, `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}
