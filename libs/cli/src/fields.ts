import { z } from 'zod';

// Building blocks of the binaries' option schemas. Values arrive as text (flags, environment) or
// as YAML/JSON values (the --config file): each block takes both.

/** A non-empty string. */
export const text = (): z.ZodString => z.string({ error: 'must be text' }).min(1, { error: 'must not be empty' });

const numberFromText = (value: unknown): unknown => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value);

/** A whole number ≥ `min`, from text or a number. */
export function wholeNumber(min = 0) {
  const message = `must be a whole number${min ? ` ≥ ${min}` : ' (0 or more)'}`;
  return z.preprocess(numberFromText, z.number({ error: message }).int({ error: message }).min(min, { error: message }));
}

const BOOLEANS: Record<string, boolean> = { true: true, '1': true, false: false, '0': false };

/** A switch: the flag alone, or true/false (1/0) from the environment or the file. */
export function onOff() {
  return z.preprocess((value) => (typeof value === 'string' ? (BOOLEANS[value.trim()] ?? value) : value), z.boolean({ error: 'must be true or false' }));
}

/** A list: the flag repeated, values separated by commas, or a YAML/JSON list; entries trimmed (empty ones kept for the caller to judge). */
export function list() {
  return z.preprocess(splitList, z.array(z.string({ error: 'must be a list of text' }), { error: 'must be a list (or text with commas)' }));
}

function splitList(value: unknown): unknown {
  if (typeof value !== 'string' && !Array.isArray(value)) return value;
  const items: unknown[] = typeof value === 'string' ? [value] : value;
  return items.flatMap((item) => (typeof item === 'string' ? item.split(',').map((part) => part.trim()) : [item]));
}

/** A check or conversion that throws (with a message for the operator), as a zod transform. */
export function checkedBy<I, O>(fn: (value: I) => O): (value: I, ctx: z.core.$RefinementCtx<I>) => O {
  return (value, ctx) => {
    try {
      return fn(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  };
}
