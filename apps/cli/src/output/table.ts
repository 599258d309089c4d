/** Columns padded to their widest cell, three spaces apart, headers as given (kubectl's look). */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** How long ago, in kubectl's units: 45s, 12m, 5h, 3d. */
export function age(createdAt: string, now: Date = new Date()): string {
  const seconds = Math.max(0, Math.floor((now.getTime() - new Date(createdAt).getTime()) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

export function labelsText(labels: readonly { key: string; value: string }[]): string {
  return labels.length ? labels.map((l) => `${l.key}=${l.value}`).join(',') : '<none>';
}

/** A cell for a value that may be missing. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '<none>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
