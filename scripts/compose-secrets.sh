#!/usr/bin/env bash
# Writes what docker-compose.yml needs and the repository never holds, into deploy/compose-secrets/ (git-ignored):
# `subscriber-tokens` (a random token for GET /events) and a self-signed certificate for localhost (tls.crt,
# tls.key). Keeps files that exist already. Needs openssl.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/compose-secrets"
mkdir -p "$dir"
chmod 700 "$dir"
umask 077

if [[ ! -s "$dir/subscriber-tokens" ]]; then
  # 32 random bytes, base64 without padding: characters SUBSCRIBER_TOKENS accepts.
  openssl rand -base64 32 | tr -d '=\n' >"$dir/subscriber-tokens"
  echo "compose-secrets: wrote $dir/subscriber-tokens"
fi
if [[ ! -s "$dir/tls.crt" || ! -s "$dir/tls.key" ]]; then
  openssl req -x509 -newkey rsa:2048 -sha256 -days 30 -nodes -subj '/CN=localhost' \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
  echo "compose-secrets: wrote a self-signed certificate for localhost, $dir/tls.crt"
fi
