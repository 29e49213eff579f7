#!/bin/sh
# How the service starts, wherever it runs: `npm start`, the image's CMD, docker-compose, the benchmark and the
# process tests. The one place for Node's options: a young generation of 2 MiB semi-spaces instead of V8's
# default, which is sized from the host's memory and stays resident (docs/performance.md). Options set by the
# caller in NODE_OPTIONS come after, so they win.
cd "$(dirname "$0")/.." || exit 1
if [ ! -f dist/main.js ]; then
  echo "npm start: there is no build (dist/main.js): run npm run build first" >&2
  exit 1
fi
NODE_OPTIONS="--max-semi-space-size=2${NODE_OPTIONS:+ $NODE_OPTIONS}" exec node dist/main.js
