import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getMetadataStorage } from 'class-validator';
import { AppConfig, ENV_VARIABLES } from './app-config.js';

const DOC = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));

interface DocRow {
  name: string;
  defaultCell: string;
  allowedCell: string;
}

/** The rows of the variables table: lines whose first cell is a `CONSTANT_CASE` name in backticks. */
function parseVariableTable(markdown: string): DocRow[] {
  return markdown
    .split('\n')
    .map((line) => line.split('|').map((cell) => cell.trim()))
    .filter((cells) => cells[0] === '' && /^`[A-Z][A-Z0-9_]*`$/.test(cells[1] ?? ''))
    .map((cells) => ({ name: cells[1].slice(1, -1), defaultCell: cells[2], allowedCell: cells[3] }));
}

const codeSpans = (cell: string) => [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]);

/** How the table writes a default: the value in backticks first, or `unset` when there is none. */
function documentedDefault(value: unknown): string {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return 'unset';
  return `\`${String(value)}\``;
}

/** The bounds and listed values the validators of a config property enforce, as the table must spell them. */
function enforcedValues(key: string): string[] {
  return getMetadataStorage()
    .getTargetValidationMetadatas(AppConfig, '', true, false)
    .filter((m) => m.propertyName === key && ['min', 'max', 'minLength', 'maxLength', 'isIn'].includes(m.name ?? ''))
    .flatMap((m) => (m.name === 'isIn' ? (m.constraints[0] as unknown[]) : [m.constraints[0]]))
    .map(String);
}

describe('docs/configuration.md', () => {
  const rows = parseVariableTable(readFileSync(DOC, 'utf8'));
  const documented = rows.map((row) => row.name);
  const read = Object.keys(ENV_VARIABLES);

  it('parses a table of variables', () => {
    expect(parseVariableTable('| `A_B` | `1` | `0` to `2` | x |\n| `lower` | x |\n| not | x |')).toEqual([
      { name: 'A_B', defaultCell: '`1`', allowedCell: '`0` to `2`' },
    ]);
  });

  it('documents every variable the config reads, and no other', () => {
    expect({
      missing: read.filter((n) => !documented.includes(n)),
      unknown: documented.filter((n) => !read.includes(n)),
    }).toEqual({ missing: [], unknown: [] });
  });

  it('documents each variable once', () => {
    expect(documented.filter((name, i) => documented.indexOf(name) !== i)).toEqual([]);
  });

  it.each(read)('%s: the documented default is the code default', (name) => {
    const row = rows.find((r) => r.name === name);
    const value = (new AppConfig() as unknown as Record<string, unknown>)[ENV_VARIABLES[name].key];
    expect(row?.defaultCell.startsWith(documentedDefault(value))).toBe(true);
  });

  it.each(read)('%s: the allowed values name every bound and value the validators enforce', (name) => {
    const spans = codeSpans(rows.find((r) => r.name === name)?.allowedCell ?? '');
    const enforced = enforcedValues(ENV_VARIABLES[name].key);
    expect(enforced.filter((value) => !spans.includes(value))).toEqual([]);
  });

  it('finds the bounds of the validators (so the check above can fail)', () => {
    expect(enforcedValues('port')).toEqual(expect.arrayContaining(['0', '65535']));
    expect(enforcedValues('logFormat')).toEqual(['json', 'pretty']);
  });
});
