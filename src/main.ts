// This module imports nothing else statically: on an older Node, the application's modules would fail to load
// before the version could be checked.
import { isSupportedNode, unsupportedNodeMessage } from './common/node-version.js';

if (!isSupportedNode(process.versions.node)) {
  process.stderr.write(`${unsupportedNodeMessage(process.versions.node)}\n`);
  process.exit(1);
}
const { bootstrap } = await import('./app.bootstrap.js');
await bootstrap();
