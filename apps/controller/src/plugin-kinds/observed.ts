import { FieldType } from '@netloom/plugin-sdk';
import { MAX_OBSERVED_BYTES } from '@netloom/protocol';
import { checkScalar, isPlainObject, ScalarFieldType } from './spec-validation';

/** What is kept of an agent's `observed` report, and what was dropped on the way (for a log line). */
export interface SanitizedObserved {
  observed: Record<string, unknown> | null;
  problems: string[];
}

/**
 * An agent's observed state as the controller stores it (pure): only the fields the kind's
 * `observed` schema declares, scalars canonical (numeric text taken for numbers, numbers and
 * booleans for text), anything else left out. An object lacking a required field is dropped
 * whole (a list item, or all of it at the top), as GraphQL could not show it; so is a value
 * larger than {@link MAX_OBSERVED_BYTES}. Without a schema there is nothing to keep.
 */
export function sanitizeObserved(schema: Record<string, FieldType> | undefined, value: unknown): SanitizedObserved {
  const problems: string[] = [];
  if (!schema || value === undefined || value === null) return { observed: null, problems };
  const observed = sanitizeValue({ type: 'object', name: '', fields: schema, required: true }, value, 'observed', problems) as
    | Record<string, unknown>
    | undefined;
  if (!observed) return { observed: null, problems };
  const bytes = Buffer.byteLength(JSON.stringify(observed));
  if (bytes > MAX_OBSERVED_BYTES) {
    problems.push(`observed is ${bytes} bytes as JSON, more than ${MAX_OBSERVED_BYTES}: dropped`);
    return { observed: null, problems };
  }
  return { observed, problems };
}

/** The kept value, or undefined when there is none (absent, or not of the type). */
function sanitizeValue(type: FieldType, value: unknown, path: string, problems: string[]): unknown {
  if (value === undefined || value === null) return type.type === 'list' ? [] : undefined;
  switch (type.type) {
    case 'object': {
      if (!isPlainObject(value)) return skip(problems, `${path} is not an object`);
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(type.fields)) {
        const kept = sanitizeValue(field, value[key], `${path}.${key}`, problems);
        if (kept === undefined && field.required) return skip(problems, `${path}.${key} is required: ${path} dropped`);
        out[key] = kept ?? null;
      }
      const unknown = Object.keys(value).filter((key) => !(key in type.fields));
      if (unknown.length) problems.push(`${path}: undeclared ${unknown.slice(0, 5).join(', ')} left out`);
      return out;
    }
    case 'list':
      if (!Array.isArray(value)) {
        problems.push(`${path} is not a list`);
        return [];
      }
      return value.map((item, i) => sanitizeValue(type.of, item, `${path}.${i}`, problems)).filter((item) => item !== undefined);
    default:
      try {
        return checkScalar(type, coerce(type, value), path);
      } catch (error) {
        return skip(problems, `${(error as Error).message}: left out`);
      }
  }
}

function coerce(type: ScalarFieldType, value: unknown): unknown {
  if ((type.type === 'int' || type.type === 'counter') && typeof value === 'string' && /^-?\d{1,16}$/.test(value)) return Number(value);
  if (type.type === 'string' && (typeof value === 'number' || typeof value === 'boolean')) return String(value);
  return value;
}

function skip(problems: string[], problem: string): undefined {
  problems.push(problem);
  return undefined;
}
