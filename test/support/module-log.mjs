// `node --import ./test/support/module-log.mjs`: appends the URL of every module the process resolves, by import
// or by require, to the file MODULE_LOG names: a spec reads which packages a process loaded.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const log = process.env.MODULE_LOG;
if (log) {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      appendFileSync(log, `${resolved.url}\n`);
      return resolved;
    },
  });
}
