#!/usr/bin/env bash
# Installs Debian's `chromium` package, which the HTML viewer test renders pages with
# (crates/rlm-cli/tests/trajectory.rs: html_view_renders_in_headless_chromium).
#
# It installs only when CI is set (`.ci/run` sets it) or when asked with `--yes`; otherwise it
# says what it would do and exits non-zero. It never installs silently: every command it runs
# is printed first.
set -euo pipefail

found=""
for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        found="$name"
        break
    fi
done
if [[ -n "$found" ]]; then
    echo "install-chromium: $("$found" --version 2>/dev/null || echo "$found") is installed"
    exit 0
fi

if [[ -z "${CI:-}" && "${1:-}" != "--yes" ]]; then
    echo "install-chromium: chromium is not installed; the HTML viewer test will say SKIPPED." >&2
    echo "install-chromium: to install Debian's chromium package, run: scripts/install-chromium.sh --yes" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: no apt-get on this machine: install Chromium with your package manager" >&2
    echo "install-chromium: (or point the test at a browser with CHROMIUM=/path/to/chromium)" >&2
    exit 1
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-chromium: not root and no sudo: run as root: apt-get install -y chromium" >&2
        exit 1
    fi
fi

run() {
    echo "+ $*"
    "$@"
}
export DEBIAN_FRONTEND=noninteractive
run "${sudo[@]}" apt-get update -qq
run "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium
echo "install-chromium: $(chromium --version) installed"
