#!/usr/bin/env bash
# Re-vendors the pinned browser libraries from the npm registry, checking the tarball's integrity.
# Run from anywhere; needs npm. Bump VERSION and INTEGRITY together, then update NOTICE and
# `src/lib.rs`'s constants (the crate's test checks the file's SHA-256).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VERSION=5.2.1
INTEGRITY='sha512-IVwoK1RLFiLPubaKIjNbtjWLnpPMqiABSrTay6whmNa8L1+19292VtHJ+BWyPUuLCwF0tcQlhEWd1CLB2a1nsQ=='
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "lightweight-charts@$VERSION" >/dev/null
got="sha512-$(openssl dgst -sha512 -binary "lightweight-charts-$VERSION.tgz" | base64 -w0)"
[ "$got" = "$INTEGRITY" ] || { echo "integrity mismatch: $got" >&2; exit 1; }
tar xzf "lightweight-charts-$VERSION.tgz"
cp package/dist/lightweight-charts.standalone.production.js package/LICENSE "$here/lightweight-charts/"
sha256sum "$here/lightweight-charts/lightweight-charts.standalone.production.js"
