/**
 * `node dry-release.mjs` in a git repository: runs semantic-release there in dry-run mode, outside CI (as
 * `semantic-release --dry-run --no-ci`), with the configuration found in that repository, and prints
 * {"version","type","notes"} of the release it would make, or {"version":null}. Its logs go to stderr.
 */
import semanticRelease from 'semantic-release';

const result = await semanticRelease(
  { dryRun: true, ci: false },
  { cwd: process.cwd(), env: process.env, stdout: process.stderr, stderr: process.stderr },
);
const next = result ? result.nextRelease : undefined;
process.stdout.write(
  JSON.stringify(next ? { version: next.version, type: next.type, notes: next.notes } : { version: null }),
);
