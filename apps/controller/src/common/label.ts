import { Field, InputType, ObjectType } from '@nestjs/graphql';
import { Brackets, SelectQueryBuilder, ValueTransformer } from 'typeorm';
import { Labels, validateLabels } from '@netloom/model';

@ObjectType({ description: 'A key and value an object is tagged with; filters select by them.' })
export class Label {
  @Field() key!: string;
  @Field() value!: string;
}

@InputType({ description: 'A key and value an object is tagged with; filters select by them.' })
export class LabelInput {
  @Field() key!: string;
  @Field() value!: string;
}

export const toLabelList = (labels: Labels): Label[] =>
  Object.keys(labels)
    .sort()
    .map((key) => ({ key, value: labels[key] }));

/** Labels are kept as one JSON object per row: portable text on SQLite and PostgreSQL. */
export const labelsColumn: ValueTransformer = {
  to: (labels: Label[] | undefined) => JSON.stringify(Object.fromEntries((labels ?? []).map((l) => [l.key, l.value]))),
  from: (text: string | null) => toLabelList(text ? (JSON.parse(text) as Labels) : {}),
};

export function parseLabelInput(labels: LabelInput[] | undefined, field = 'labels'): Label[] {
  return toLabelList(validateLabels(labels ?? [], field));
}

/**
 * Restricts a query to rows carrying every label of the selector. The one place that knows how
 * each database reads a key out of the JSON column.
 */
export function whereLabels<T extends object>(qb: SelectQueryBuilder<T>, alias: string, selector: LabelInput[] | undefined): void {
  if (!selector?.length) return;
  const labels = validateLabels(selector, 'filter.labels');
  const postgres = qb.connection.options.type === 'postgres';
  qb.andWhere(
    new Brackets((w) => {
      Object.entries(labels).forEach(([key, value], i) => {
        const expr = postgres
          ? `(${alias}.labels::jsonb ->> :lk${i})`
          : `json_extract(${alias}.labels, :lk${i})`;
        w.andWhere(`${expr} = :lv${i}`, { [`lk${i}`]: postgres ? key : `$."${key}"`, [`lv${i}`]: value });
      });
    }),
  );
}
