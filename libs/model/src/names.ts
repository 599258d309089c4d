import { badInput } from './errors';

/** A resource name: 1–63 characters, letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Label keys follow Kubernetes: an optional DNS prefix and `/`, then a name of up to 63. */
const LABEL_KEY = /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
export const MAX_LABELS = 64;

export type Labels = Record<string, string>;

export function validateName(name: string, field = 'name'): string {
  if (!NAME_PATTERN.test(name)) {
    throw badInput(
      `invalid ${field} ${JSON.stringify(name.slice(0, 80))}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      field,
    );
  }
  return name;
}

export function validateLabels(labels: ReadonlyArray<{ key: string; value: string }>, field = 'labels'): Labels {
  if (labels.length > MAX_LABELS) {
    throw badInput(`too many labels: ${labels.length} (at most ${MAX_LABELS})`, field);
  }
  const out: Labels = {};
  labels.forEach(({ key, value }, i) => {
    if (!LABEL_KEY.test(key)) {
      throw badInput(`invalid label key ${JSON.stringify(key.slice(0, 80))}`, `${field}.${i}.key`);
    }
    if (!LABEL_VALUE.test(value)) {
      throw badInput(`invalid label value ${JSON.stringify(value.slice(0, 80))} for key ${key}`, `${field}.${i}.value`);
    }
    // Own keys only: `constructor` or `toString` are label keys like any other, not the prototype's.
    if (Object.hasOwn(out, key)) {
      throw badInput(`duplicate label key ${key}`, `${field}.${i}.key`);
    }
    out[key] = value;
  });
  return out;
}

/** True when every selector label is present with the same value. */
export function labelsMatch(labels: Labels, selector: Labels): boolean {
  return Object.entries(selector).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);
}
