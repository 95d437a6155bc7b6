#!/usr/bin/env bash
# Install the Debian packages the test suite (and `make bench`) needs, when they are missing.
# Each entry is "command:package". Idempotent: prints one line when everything is present.
set -euo pipefail

# chromium: the browser the console's end-to-end tests drive through Playwright (tests/e2e/).
needed=("docker-compose:docker-compose" "chromium:chromium")
if [[ "${1:-}" == "--bench" ]]; then
  needed+=("wrk:wrk")
fi

missing=()
for entry in "${needed[@]}"; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system packages: all present"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing packages: ${missing[*]} (no apt-get here: install them with your package manager)" >&2
  exit 1
fi

echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages: installed ${missing[*]}"
