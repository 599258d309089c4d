import { ValueTransformer } from 'typeorm';

/** Timestamps are ISO-8601 text: they sort as text and mean the same on every database. */
export const isoDateColumn: ValueTransformer = {
  // null stays null (an update clearing the column), undefined stays undefined (left out).
  to: (value: Date | null | undefined) => (value === null ? null : value?.toISOString()),
  from: (text: string | null) => (text ? new Date(text) : null),
};

/** A JSON document in a text column. */
export const jsonColumn: ValueTransformer = {
  to: (value: unknown) => JSON.stringify(value ?? null),
  from: (text: string | null): unknown => (text ? JSON.parse(text) : null),
};

/** A bigint column as a number (PostgreSQL's driver returns text; counters here stay below 2^53). */
export const bigintColumn: ValueTransformer = {
  to: (value: number | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};
