#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 (bookworm) or Debian 13 (trixie) machine, run as root (or
# with sudo available):
#   1. Debian packages: QGIS with its Python bindings, GDAL, numpy, scipy, matplotlib, dask,
#      distributed, zarr, Xvfb, git; on Debian 13 also Debian's PyTorch (python3-torch, CPU);
#   2. a venv on /usr/bin/python3 with --system-site-packages (so it sees QGIS, numpy, GDAL);
#   3. the pinned Python packages of requirements-dev.txt, and on Debian 12 only the torch pin of
#      requirements-torch.txt (the local CPU wheel; on 13 the index would pull GBs of CUDA).
# Each step checks what is there and skips it; output goes to logs, shown when a step fails.
# Prints the venv's python path on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SUBSIDENCE_LAB_VENV:-/opt/subsidence-lab-venv}"
say() { echo "[setup] $*" >&2; }

# Which Debian: os-release's VERSION_ID, else its codename, else /etc/debian_version.
# (SUBSIDENCE_LAB_OS_RELEASE names another os-release file: the tests use it with --plan.)
os_release="${SUBSIDENCE_LAB_OS_RELEASE:-/etc/os-release}"
release="" distro=""
if [ -r "$os_release" ]; then
  distro="$(. "$os_release"; echo "${ID:-}")"
  release="$(. "$os_release"; echo "${VERSION_ID:-${VERSION_CODENAME:-}}")"
fi
if [ -z "$release" ] && [ -z "${SUBSIDENCE_LAB_OS_RELEASE:-}" ] && [ -r /etc/debian_version ]; then
  distro="debian" release="$(cut -d. -f1 /etc/debian_version)"
fi
case "$distro:$release" in
  debian:12* | debian:bookworm*) debian=12 ;;
  debian:13* | debian:trixie*) debian=13 ;;
  *) say "unsupported system (${distro:-unknown} ${release:-?}): Debian 12 or 13 needed"; exit 1 ;;
esac

debs=(python3-qgis qgis qgis-providers python3-gdal python3-numpy python3-scipy python3-matplotlib
      python3-dask python3-distributed python3-zarr python3-venv python3-pip xvfb xauth git)
reqs=("$here/requirements-dev.txt")
if [ "$debian" = 12 ]; then
  reqs+=("$here/requirements-torch.txt")
else
  debs+=(python3-torch)
fi

if [ "${1:-}" = --plan ]; then  # say what would be installed, install nothing
  echo "debian $debian"
  echo "debs ${debs[*]}"
  echo "pip ${reqs[*]##*/}"
  exit 0
fi

# One set-up at a time: several test runs may start together on a shared machine.
lock="${TMPDIR:-/tmp}/subsidence-lab-setup.lock"
if exec 9>>"$lock"; then
  flock -w 1800 9 || { say "another set-up held $lock for 30 minutes; giving up"; exit 1; }
fi

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian $debian packages: ${missing[*]} (a few minutes)"
  log="$(mktemp /tmp/subsidence-lab-apt.XXXXXX.log)"
  apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
  if ! { "${apt[@]}" update -qq &&
         "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    say "apt-get failed; full log: $log"
    exit 1
  fi
  say "Debian packages installed (log: $log)"
else
  say "Debian $debian packages present: ${debs[*]}"
fi

if [ ! -x "$venv/bin/python" ]; then
  say "creating venv $venv (--system-site-packages on /usr/bin/python3)"
  /usr/bin/python3 -m venv --system-site-packages "$venv" >&2
else
  say "venv present: $venv"
fi

stamp="$venv/.subsidence-lab-requirements"
pins_ok() {  # every "name==version" line of the requirement files is what the venv has
  "$venv/bin/python" - "${reqs[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for path in sys.argv[1:]:
    for line in open(path):
        line = line.split("#")[0].strip()
        if "==" in line:
            name, pin = line.split("==")
            try:
                have = version(name.strip())
            except PackageNotFoundError:
                sys.exit(1)
            if have.split("+")[0] != pin.strip():
                sys.exit(1)
PY
}
if [ -f "$stamp" ] && cat "${reqs[@]}" | cmp -s - "$stamp" && pins_ok; then
  say "pinned Python packages present (${reqs[*]##*/} unchanged)"
else
  say "installing pinned Python packages from ${reqs[*]##*/}"
  log="$(mktemp /tmp/subsidence-lab-pip.XXXXXX.log)"
  pipreq=(); for r in "${reqs[@]}"; do pipreq+=(-r "$r"); done
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q "${pipreq[@]}" >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -n 30 >&2
    say "pip install failed; full log: $log"
    exit 1
  fi
  cat "${reqs[@]}" >"$stamp"
fi

# numpy/GDAL (and on Debian 13 torch) must be Debian's: a pip copy in the venv would not match
# what QGIS is built against (or would be the multi-GB CUDA build).
"$venv/bin/python" - "$debian" >&2 <<'PY'
import importlib.util
import sys

debian_only = ["numpy", "osgeo", "scipy"] + (["torch"] if sys.argv[1] == "13" else [])
bad = []
for name in debian_only:
    spec = importlib.util.find_spec(name)
    if spec is None or not (spec.origin or "").startswith("/usr/lib/python3/"):
        bad.append(f"{name} ({spec.origin if spec else 'missing'})")
if bad:
    raise SystemExit(f"[setup] not Debian's: {', '.join(bad)}; remove pip copies from the venv")
import numpy
import osgeo
from qgis.core import Qgis
print(f"[setup] ready: Debian {sys.argv[1]}, QGIS {Qgis.QGIS_VERSION}, Python {sys.version.split()[0]}, "
      f"numpy {numpy.__version__}, GDAL {osgeo.__version__}")
PY
echo "$venv/bin/python"
