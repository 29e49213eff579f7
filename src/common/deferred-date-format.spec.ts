import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deferDateTimeFormat } from './deferred-date-format.js';

const OPTIONS: Intl.DateTimeFormatOptions = { year: 'numeric', month: '2-digit', day: '2-digit', hour: 'numeric' };
const DATE = Date.UTC(2026, 11, 1, 10, 30);
const LATER = Date.UTC(2026, 11, 3, 12, 0);

describe('deferDateTimeFormat', () => {
  /** An Intl whose DateTimeFormat counts the formatters it builds. */
  function countingIntl() {
    const built: unknown[][] = [];
    const Counting = function (...args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
      built.push(args);
      return new Intl.DateTimeFormat(...args);
    } as unknown as typeof Intl.DateTimeFormat;
    Counting.supportedLocalesOf = Intl.DateTimeFormat.supportedLocalesOf;
    return { intl: { DateTimeFormat: Counting }, built, Counting };
  }

  it('builds the real formatter on first use only, once, with the arguments given', () => {
    const { intl, built } = countingIntl();
    const restore = deferDateTimeFormat(intl);
    const deferred = new intl.DateTimeFormat('en-GB', OPTIONS);
    expect(built).toHaveLength(0);
    deferred.format(DATE);
    deferred.formatToParts(DATE);
    expect(built).toEqual([['en-GB', OPTIONS]]);
    restore();
  });

  it('formats as the real one does, called with or without new', () => {
    const { intl } = countingIntl();
    const restore = deferDateTimeFormat(intl);
    const real = new Intl.DateTimeFormat('de-CH', OPTIONS);
    for (const deferred of [new intl.DateTimeFormat('de-CH', OPTIONS), intl.DateTimeFormat('de-CH', OPTIONS)]) {
      // `format` is a bound function, as the real one's: it can be passed around.
      const { format } = deferred;
      expect([1, 2].map(() => format(DATE))).toEqual([real.format(DATE), real.format(DATE)]);
      expect(deferred.formatToParts(DATE)).toEqual(real.formatToParts(DATE));
      expect(deferred.formatRange(DATE, LATER)).toBe(real.formatRange(DATE, LATER));
      expect(deferred.formatRangeToParts(DATE, LATER)).toEqual(real.formatRangeToParts(DATE, LATER));
      expect(deferred.resolvedOptions()).toEqual(real.resolvedOptions());
      expect(Object.prototype.toString.call(deferred)).toBe('[object Intl.DateTimeFormat]');
    }
    expect(intl.DateTimeFormat.supportedLocalesOf(['de-CH', 'xx-invalid-'.slice(0, 2)])).toEqual(
      Intl.DateTimeFormat.supportedLocalesOf(['de-CH', 'xx']),
    );
    restore();
  });

  it('puts the real constructor back, and formatters made meanwhile keep working', () => {
    const { intl, built, Counting } = countingIntl();
    const restore = deferDateTimeFormat(intl);
    expect(intl.DateTimeFormat).not.toBe(Counting);
    const deferred = new intl.DateTimeFormat('en-US', OPTIONS);
    restore();
    expect(intl.DateTimeFormat).toBe(Counting);
    expect(deferred.format(DATE)).toBe(new Intl.DateTimeFormat('en-US', OPTIONS).format(DATE));
    // Made at once again after the restore.
    new intl.DateTimeFormat('en-US');
    expect(built).toHaveLength(2);
  });

  it('defers the formatter Nest`s ConsoleLogger makes when @nestjs/common loads, which then writes its timestamps', () => {
    // A process of its own: Jest has loaded @nestjs/common before any spec. The order of main.ts: the deferral, then
    // Nest, then the restore. Node strips this module's types itself (it imports nothing).
    const script = `
      let built = 0;
      const Real = Intl.DateTimeFormat;
      Intl.DateTimeFormat = function (...args) { built++; return new Real(...args); };
      Intl.DateTimeFormat.supportedLocalesOf = Real.supportedLocalesOf;
      const { deferDateTimeFormat } = await import(${JSON.stringify(fileURLToPath(new URL('./deferred-date-format.ts', import.meta.url)))});
      const restore = deferDateTimeFormat(Intl);
      const { ConsoleLogger } = await import('@nestjs/common');
      restore();
      const atLoad = built;
      new ConsoleLogger('Spec', { colors: false }).log('hello');
      console.log(JSON.stringify({ atLoad, afterLog: built }));`;
    const result = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(result.stderr).toBe('');
    const [logLine, counts] = result.stdout.trim().split('\n');
    expect(JSON.parse(counts)).toEqual({ atLoad: 0, afterLog: 1 });
    expect(logLine).toMatch(/\d{2}\/\d{2}\/\d{4}, \d{1,2}:\d{2}:\d{2}.* LOG \[Spec\] hello$/);
  });

  it('main.ts defers before it loads any other module, and restores when its modules are loaded', () => {
    const read = (file: string) => readFileSync(fileURLToPath(new URL(`../${file}`, import.meta.url)), 'utf8');
    const staticImports = (source: string) => [...source.matchAll(/^import .*'([^']+)';$/gm)].map((m) => m[1]);
    const main = read('main.ts');
    // Statically only the preload: the application is imported after it ran (static imports are linked first).
    expect(staticImports(main)).toEqual(['./app.preload.js']);
    expect(main).toMatch(
      /await import\('\.\/app\.bootstrap\.js'\);\n(\s*\/\/.*\n)*restoreDateTimeFormat\(\);\nvoid bootstrap\(\);/,
    );
    expect(staticImports(read('app.bootstrap.ts'))[0]).toBe('reflect-metadata');
  });
});
