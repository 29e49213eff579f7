// The command line of the project's scripts (scripts/, bench/): the same answers to --help and to a bad option.
import { parseArgs } from 'node:util';

/**
 * `parseArgs` with `-h, --help` added: --help prints `usage` on stdout and exits 0; an unknown option, a missing
 * value or a stray argument prints the reason and `usage` on stderr and exits 2 (no stack trace).
 * @returns the parsed `values`
 */
export function parseCommandLine(name, usage, options) {
  let parsed;
  try {
    parsed = parseArgs({
      options: { ...options, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
    });
  } catch (err) {
    process.stderr.write(`${name}: ${err.message}\n\n${usage}`);
    process.exit(2);
  }
  if (parsed.values.help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  return parsed.values;
}
