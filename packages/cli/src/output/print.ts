/** Printing for people (tables, fields, one-line summaries) and for scripts (`--json`). */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** A notice for the person at the terminal (stderr, so stdout stays parseable). */
export function notice(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** Control characters (a hostile server's terminal escapes) are shown escaped, never sent to the terminal. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function cell(value: unknown): string {
  let text: string;
  if (value === undefined || value === null || value === '') text = '-';
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value))
    text = value.length === 0 ? '-' : value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(',');
  else text = JSON.stringify(value);
  return printable(text);
}

/**
 * Prints rows as an aligned table with upper-case headings.
 *
 * @example
 * ```ts
 * printTable([{ name: 'ops', description: 'on call' }], ['name', 'description']);
 * // NAME  DESCRIPTION
 * // ops   on call
 * ```
 */
export function printTable<T extends object>(rows: readonly T[], columns: readonly (keyof T & string)[]): void {
  const table = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, i) => Math.max(...table.map((line) => (line[i] ?? '').length)));
  for (const line of table)
    printLine(
      line
        .map((v, i) => (i === line.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    );
}

/** Prints `label: value` pairs, labels aligned. */
export function printFields(fields: ReadonlyArray<readonly [string, unknown]>): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) printLine(`${`${k}:`.padEnd(width + 1)} ${cell(v)}`);
}

/** `Admin@*` from `{ role: 'Admin', project: '*' }`. */
export function grants(roles: readonly { role: string; project: string }[] | undefined): string[] {
  return (roles ?? []).map((g) => `${g.role}@${g.project}`);
}
