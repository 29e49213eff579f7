// `node --import ./test/support/module-log.mjs`: appends the URL of every module the process loads, by import or by
// require, to the file MODULE_LOG names, and at exit Node's own modules as `builtin:<process.moduleLoadList entry>`
// (some load without an import: undici behind node:http's WebSocket): a spec reads which packages a process loaded.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const log = process.env.MODULE_LOG;
if (log) {
  registerHooks({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context);
      appendFileSync(log, `${url}\n`);
      return loaded;
    },
  });
  process.on('exit', () => appendFileSync(log, process.moduleLoadList.map((m) => `builtin:${m}\n`).join('')));
}
