/** The Node releases the service runs on: package.json's `engines` (node-version.spec.ts keeps them equal). */
export const SUPPORTED_NODE = '22.22.3 or a later 22.x, or 24.15.0 or later';

/** Whether `version` (`process.versions.node`, `x.y.z`) is one of SUPPORTED_NODE. */
export function isSupportedNode(version: string): boolean {
  const [major, minor, patch] = version.split('.').map(Number);
  if (major === 22) return minor > 22 || (minor === 22 && patch >= 3);
  return major > 24 || (major === 24 && minor >= 15);
}

/** One line for a Node the service does not run on: which one runs, which are needed, how to get one. */
export function unsupportedNodeMessage(version: string): string {
  return (
    `Node ${version} cannot run this service: it needs Node ${SUPPORTED_NODE}. ` +
    'Get one with `nvm install` (reads .nvmrc) or `export PATH="$(bash scripts/install-node.sh $(cat .nvmrc)):$PATH"`.'
  );
}
