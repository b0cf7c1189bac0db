#!/usr/bin/env bash
# Idempotent set-up for a fresh clone; fast (about a second) when everything is already there.
#   bash scripts/setup.sh test     Debian's Jupyter (with the classic Notebook 6 server the browser
#                                  check opens notebooks in), Chromium, OpenBLAS, PyTorch and
#                                  NumPy, npm packages, the native kernels, the tslab kernel
#   bash scripts/setup.sh figures  the same
#   bash scripts/setup.sh kernel   Jupyter's kernel machinery, OpenBLAS, npm packages, the native
#                                  kernels, the tslab kernel
# Debian packages are installed with apt-get (as root, or through sudo) only when missing.
set -euo pipefail
mode="${1:-test}"
case "$mode" in test | figures | kernel) ;; *) echo "setup: unknown mode '$mode'; use test, figures or kernel" >&2; exit 2 ;; esac
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
say() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }

# 1. Debian packages: Jupyter runs the notebooks headless, Chromium renders figures to PNG/SVG,
#    Liberation fonts make the text of figures look the same on every machine, OpenBLAS's headers
#    (and pkg-config) let npm build the kit's native kernels (native/), the Vulkan loader lets
#    Dawn (the webgpu backend) find a GPU's Vulkan driver, or Chromium's SwiftShader for the tests,
#    and PyTorch and NumPy run the kit's PyTorch twin (python/pld_torch) in the parity tests.
#    First, so that the npm install below can build the kernels.
if [ "$mode" = kernel ]; then
  pkgs=(jupyter-client python3-ipykernel libopenblas-dev pkg-config libvulkan1)
else
  pkgs=(jupyter-nbconvert jupyter-client jupyter-notebook python3-nbclient python3-ipykernel chromium fonts-liberation libopenblas-dev pkg-config libvulkan1)
  [ "$mode" = test ] && pkgs+=(python3-torch python3-numpy)
fi
# Output is captured before it is matched: with pipefail, `cmd | grep -q` fails whenever grep exits
# at its match before cmd has written everything (cmd then dies of SIGPIPE).
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = 'install ok installed' ]; }
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
else
  # Not Debian: accept the tools where Debian would put them.
  [ -x /usr/bin/jupyter ] || missing+=(jupyter)
  [ "$mode" = kernel ] || [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if [ ${#missing[@]} -eq 0 ]; then
  say "Debian packages present (${pkgs[*]})"
else
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get here: install Jupyter (nbclient, ipykernel) and Chromium at /usr/bin/chromium yourself"
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "missing Debian packages ${missing[*]}; as root run: apt-get install -y --no-install-recommends ${missing[*]}"
    sudo=(sudo)
  fi
  say "installing Debian packages: ${missing[*]} (apt-get update + install)"
  "${sudo[@]}" apt-get update -qq >/dev/null || die "apt-get update failed; check network access to the Debian mirror"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed; run it by hand to see why"
fi

# 2. npm packages: `npm ci` when node_modules is missing or older than package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm packages missing or stale: npm ci"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed (see above); check access to the npm registry"
else
  say "npm packages up to date"
fi

# 2b. The native kernels (optional for users, required by the tests): npm builds them while
#     installing; build them again when the addon is missing (OpenBLAS arrived after the npm
#     install) or older than its source.
addon=native/build/Release/pld_native.node
if [ ! -f "$addon" ] || [ -n "$(find native/src native/binding.gyp -newer "$addon" 2>/dev/null)" ]; then
  say "building the native kernels (npm rebuild pld-native)"
  if ! npm rebuild pld-native --loglevel=error >/dev/null 2>&1 || [ ! -f "$addon" ]; then
    msg="the native kernels did not build; install g++ and libopenblas-dev, then run: npm rebuild pld-native"
    [ "$mode" = test ] && die "$msg (the tests check them)"
    say "warning: $msg (training falls back to the slower wasm kernels)"
  fi
else
  say "native kernels built"
fi

# 3. The tslab kernel, registered with Debian's Python (the first python3 on PATH may lack
#    Jupyter) and pointing at this checkout's tslab.
[ -x /usr/bin/jupyter ] || die "Jupyter is not at /usr/bin/jupyter; install jupyter-client (bash scripts/setup.sh test does)"
bin="$root/node_modules/.bin/tslab"
[ -x "$bin" ] || die "tslab is not installed in node_modules; run npm ci"
current="$(/usr/bin/jupyter kernelspec list --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; k=json.load(sys.stdin)["kernelspecs"].get("tslab"); print(k["spec"]["argv"][0] if k else "")' 2>/dev/null || true)"
if [ "$current" = "$bin" ]; then
  say "tslab kernel registered"
else
  say "registering the tslab TypeScript kernel${current:+ (was: $current)}"
  "$bin" install --python=/usr/bin/python3 --binary="$bin" >/dev/null || die "tslab install --python=/usr/bin/python3 failed (see above)"
  listed="$(/usr/bin/jupyter kernelspec list 2>/dev/null || true)"
  grep -q '^ *tslab ' <<<"$listed" || die "tslab kernel still not listed by jupyter kernelspec list"
fi
