/**
 * `node run-semantic-release.mjs [--publish]` in a git repository: runs semantic-release there outside CI, with the
 * configuration found in that repository: in dry-run mode (as `semantic-release --dry-run --no-ci`), or with
 * --publish a real release (only ever into a throwaway repository whose `origin` is local). Prints
 * {"version","type","notes"} of the release made or due, or {"version":null}. Its logs go to stderr.
 */
import semanticRelease from 'semantic-release';

const publish = process.argv.includes('--publish');
const result = await semanticRelease(
  { dryRun: !publish, ci: false },
  { cwd: process.cwd(), env: process.env, stdout: process.stderr, stderr: process.stderr },
);
const next = result ? result.nextRelease : undefined;
process.stdout.write(
  JSON.stringify(next ? { version: next.version, type: next.type, notes: next.notes } : { version: null }),
);
