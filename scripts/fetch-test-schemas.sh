#!/usr/bin/env bash
# JSON schemas the tests validate our output against, fetched from the npm registry at pinned versions into
# tests/.schemas/ (not committed). Idempotent.
#   SARIF 2.1.0: the schema shipped in @microsoft/jest-sarif (MIT), a copy of the OASIS schema.
#   ADF: Atlassian's Document Format schema from @atlaskit/adf-schema (Apache-2.0).
# And the accessibility checker the console's browser tests inject into each page:
#   axe-core (MPL-2.0), its single-file build axe.min.js.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=tests/.schemas
mkdir -p "$dest"

fetch() {  # fetch PACKAGE@VERSION PATH-IN-PACKAGE TARGET-NAME
  local spec=$1 inner=$2 target=$3
  [[ -s "$dest/$target" ]] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: install Node.js (Debian: apt-get install nodejs npm) to fetch $spec" >&2
    return 1
  fi
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>&1)
  tar -xzf "$tmp"/*.tgz -C "$tmp" "package/$inner"
  mv "$tmp/package/$inner" "$dest/$target"
  rm -rf "$tmp"
  echo "fetched $target from $spec"
}

fetch "@microsoft/jest-sarif@1.0.0-beta.0" "lib/schemas/sarif-2.1.0-rtm.5.json" "sarif-2.1.0.json"
fetch "@atlaskit/adf-schema@57.7.22" "json-schema/v1/full.json" "adf-full.json"
fetch "axe-core@4.14.1" "axe.min.js" "axe.min.js"
echo "test schemas: present in $dest"
