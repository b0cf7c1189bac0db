#!/usr/bin/env bash
# Idempotent set-up for a fresh clone; fast when everything is already there.
#   bash scripts/setup.sh test     npm packages, Debian Jupyter + Chromium, tslab kernel
#   bash scripts/setup.sh figures  the same
#   bash scripts/setup.sh kernel   npm packages and the tslab kernel only (needs Jupyter installed)
set -euo pipefail
mode="${1:-test}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
say() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }

# 1. npm packages (npm ci when node_modules is missing or older than the lockfile).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed; check your network access to the npm registry"
else
  say "npm packages present"
fi

# 2. Debian packages: Jupyter to run notebooks headless, Chromium to render figures.
apt_pkgs=(jupyter-nbconvert jupyter-client python3-nbclient python3-ipykernel chromium)
if [ "$mode" != kernel ]; then
  missing=()
  for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null 2>&1 || die "missing Debian packages ${missing[*]}; install them as root: apt-get install ${missing[*]}"
      sudo="sudo"
    fi
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
  else
    say "Jupyter and Chromium present"
  fi
fi

# 3. The tslab kernel, pointing at this checkout's tslab (Debian's Python, not the first python3 on PATH).
[ -x /usr/bin/jupyter ] || die "Jupyter is not installed (/usr/bin/jupyter); run: bash scripts/setup.sh test"
bin="$root/node_modules/.bin/tslab"
spec="$(/usr/bin/jupyter kernelspec list --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; k=json.load(sys.stdin)["kernelspecs"].get("tslab"); print(k["spec"]["argv"][0] if k else "")')"
if [ "$spec" != "$bin" ]; then
  say "registering the tslab TypeScript kernel"
  "$bin" install --python=/usr/bin/python3 --binary="$bin" >/dev/null || die "tslab install failed"
else
  say "tslab kernel registered"
fi
