#!/usr/bin/env bash
# Runs the Dockerfile's steps without Docker, for machines that have no Docker engine (CI among them):
# the build stage and the runtime stage each in their own temporary folder, with the files the Dockerfile
# COPYs, then starts the runtime folder's `node dist/main.js` and probes it with the Dockerfile's own
# HEALTHCHECK command. Exits non-zero on any failure; every wait is bounded; cleans up after itself.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile="$root/Dockerfile"
work=$(mktemp -d "${TMPDIR:-/tmp}/docker-equivalent.XXXXXX")
build="$work/build"
runtime="$work/runtime"
server_pid=''

cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n--- docker-equivalent: %s\n' "$*"; }
fail() {
  printf 'docker-equivalent: FAILED: %s\n' "$*" >&2
  exit 1
}

# The build stage's `COPY <src>... <dest>` lines (those before the second FROM, without --from).
# Sources are copied to the same relative path, which is what the Dockerfile does with WORKDIR /app.
# The COPY lines of stage $1 (1: build, 2: runtime) that copy from the context, into folder $2.
copy_sources() {
  local stage=$1 into=$2
  awk -v stage="$stage" '/^FROM /{n++} n==stage && /^COPY / && !/--from/' "$dockerfile" | while read -r _ args; do
    read -r -a parts <<<"$args"
    local dest=${parts[-1]}
    unset 'parts[-1]'
    for src in "${parts[@]}"; do
      [[ "$dest" == "./" || "$dest" == "./$src" || "$dest" == "$src" ]] ||
        fail "COPY $src $dest: this script only mirrors COPYs into the same relative path"
      (cd "$root" && cp -R --parents "$src" "$into/")
    done
  done
}

# The exec-form command of the Dockerfile's HEALTHCHECK, one argument per line.
healthcheck_argv() {
  node -e '
    const text = require("node:fs").readFileSync(process.argv[1], "utf8").replace(/\\\r?\n/g, " ");
    const line = text.split(/\r?\n/).find((l) => /^HEALTHCHECK\s/.test(l));
    const m = line && line.match(/\sCMD\s+(\[.*\])\s*$/);
    if (!m) { console.error("no exec-form HEALTHCHECK ... CMD [...] in the Dockerfile"); process.exit(1); }
    for (const arg of JSON.parse(m[1])) console.log(arg);
  ' "$dockerfile"
}

# The exec-form CMD of the Dockerfile (its last line starting with CMD), one argument per line.
cmd_argv() {
  node -e '
    const line = require("node:fs").readFileSync(process.argv[1], "utf8").split(/\r?\n/).filter((l) => /^CMD\s/.test(l)).at(-1);
    const m = line && line.match(/^CMD\s+(\[.*\])\s*$/);
    if (!m) { console.error("no exec-form CMD [...] in the Dockerfile"); process.exit(1); }
    for (const arg of JSON.parse(m[1])) console.log(arg);
  ' "$dockerfile"
}

free_port() {
  node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# The image's Node (NODE_IMAGE's x.y.z), installed outside the repository when the one on PATH is another.
node_version=$(sed -nE 's/^ARG NODE_IMAGE=node:([0-9]+\.[0-9]+\.[0-9]+)-.*/\1/p' "$dockerfile")
[[ -n "$node_version" ]] || fail "no 'ARG NODE_IMAGE=node:x.y.z-...' line in the Dockerfile"
if [[ "$(node --version 2>/dev/null)" != "v$node_version" ]]; then
  step "Node $node_version, as in the image"
  PATH="$(bash "$root/scripts/install-node.sh" "$node_version"):$PATH"
  export PATH
fi
echo "docker-equivalent: node $(node --version), as the image's $(grep -m1 '^ARG NODE_IMAGE=' "$dockerfile")"

mkdir -p "$build" "$runtime"

step "build stage: COPY sources, npm ci, npm run build (in $build)"
copy_sources 1 "$build"
(cd "$build" && npm ci --no-audit --no-fund && npm run build)
[[ -f "$build/dist/main.js" ]] || fail "the build produced no dist/main.js"

step "runtime stage: npm ci --omit=dev --omit=optional --ignore-scripts, dist from the build stage (in $runtime)"
copy_sources 2 "$runtime"
(cd "$runtime" && NODE_ENV=production npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund)
cp -R "$build/dist" "$runtime/dist"
# A dev dependency here would mean the image carries the toolchain.
for dev in typescript @nestjs/cli jest eslint; do
  [[ ! -e "$runtime/node_modules/$dev" ]] || fail "dev dependency $dev is in the runtime folder"
done

mapfile -t healthcheck < <(healthcheck_argv)
[[ ${#healthcheck[@]} -gt 0 ]] || fail "could not read the HEALTHCHECK command"
mapfile -t command < <(cmd_argv)
[[ ${#command[@]} -gt 0 ]] || fail "could not read the CMD"
port=$(free_port)

step "start: ${command[*]} on 127.0.0.1:$port"
cd "$runtime"
# HOST is unset in the image (every address); here the service stays on the loopback address.
export NODE_ENV=production PORT="$port" HOST=127.0.0.1 NO_COLOR=1
# The build arguments release.yml passes (ENV in the image).
APP_VERSION="$(node -p 'require("./package.json").version')-docker-equivalent"
GIT_COMMIT=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export APP_VERSION GIT_COMMIT
"${command[@]}" >"$work/server.log" 2>&1 &
server_pid=$!

step "HEALTHCHECK: ${healthcheck[*]}"
healthy=''
for _ in $(seq 1 60); do # at most about 30 s
  kill -0 "$server_pid" 2>/dev/null || {
    code=0
    wait "$server_pid" || code=$?
    cat "$work/server.log"
    fail "the service exited during start-up with status $code$( ((code > 128)) && echo " (signal $((code - 128)))")"
  }
  if timeout 10 "${healthcheck[@]}"; then
    healthy=yes
    break
  fi
  sleep 0.5
done
[[ -n "$healthy" ]] || {
  cat "$work/server.log"
  fail "HEALTHCHECK did not pass within 30 s"
}
echo "HEALTHCHECK passed"

# The API docs too: SwaggerModule builds them at run time, from the production dependencies only.
for path in /health /health/live /health/ready /docs /docs-json /docs-yaml; do
  status=$(timeout 10 node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(
      (r) => console.log(r.status),
      (e) => { console.log("error: " + (e.cause?.code ?? e.message)); }
    )' "http://127.0.0.1:$port$path") || status="error: timeout"
  echo "GET $path -> $status"
  [[ "$status" == 200 ]] || {
    cat "$work/server.log"
    fail "GET $path answered $status, expected 200"
  }
done

build=$(timeout 10 node -e '
  fetch(process.argv[1], { signal: AbortSignal.timeout(5000) })
    .then((r) => r.json())
    .then((b) => console.log(b.details.build.version + " " + b.details.build.commit), (e) => console.log("error: " + e.message))' "http://127.0.0.1:$port/health")
echo "GET /health build: $build"
[[ "$build" == "$APP_VERSION $GIT_COMMIT" ]] ||
  fail "GET /health does not report APP_VERSION=$APP_VERSION GIT_COMMIT=$GIT_COMMIT"

step "stop: SIGTERM, then wait for a clean exit"
kill -TERM "$server_pid"
code=''
for _ in $(seq 1 30); do # at most 15 s: SHUTDOWN_DRAIN_MS (5 s), then a close that takes milliseconds here
  if ! kill -0 "$server_pid" 2>/dev/null; then
    code=0
    wait "$server_pid" || code=$?
    break
  fi
  sleep 0.5
done
[[ -n "$code" ]] || fail "the service did not stop within 15 s of SIGTERM"
server_pid=''
[[ "$code" == 0 ]] || {
  cat "$work/server.log"
  fail "the service exited with $code after SIGTERM"
}
tail -n 3 "$work/server.log"
echo "docker-equivalent: OK (build, runtime install without dev dependencies, HEALTHCHECK, /health 200, clean stop)"
