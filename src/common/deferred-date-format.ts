type DateTimeFormatConstructor = typeof Intl.DateTimeFormat;
type Args = ConstructorParameters<DateTimeFormatConstructor>;

/**
 * Makes `intl.DateTimeFormat` build its formatters on their first use instead of at once, until the returned
 * function is called, which puts the real constructor back.
 *
 * Why: building one loads ICU's date-format data from the Node binary (about 5 MB of RSS), and Nest's ConsoleLogger
 * builds one when @nestjs/common is loaded, for a logger the service replaces with pino. A formatter made meanwhile
 * works as a real one (it makes the real one when first used), except that it is no `instanceof Intl.DateTimeFormat`.
 */
export function deferDateTimeFormat(intl: { DateTimeFormat: DateTimeFormatConstructor }): () => void {
  const Real = intl.DateTimeFormat;
  const deferred = (...args: Args): Intl.DateTimeFormat => {
    let real: Intl.DateTimeFormat | undefined;
    const made = () => (real ??= new Real(...args));
    return {
      get format() {
        return made().format;
      },
      formatToParts: (date) => made().formatToParts(date),
      formatRange: (start, end) => made().formatRange(start, end),
      formatRangeToParts: (start, end) => made().formatRangeToParts(start, end),
      resolvedOptions: () => made().resolvedOptions(),
      [Symbol.toStringTag]: 'Intl.DateTimeFormat',
    } as Intl.DateTimeFormat;
  };
  // Callable with and without `new`, as the real one: an object returned by a constructor is the result of `new`.
  const Deferred = function (...args: Args) {
    return deferred(...args);
  } as unknown as DateTimeFormatConstructor;
  Object.defineProperty(Deferred, 'supportedLocalesOf', { value: Real.supportedLocalesOf.bind(Real) });
  intl.DateTimeFormat = Deferred;
  return () => {
    if (intl.DateTimeFormat === Deferred) intl.DateTimeFormat = Real;
  };
}
