#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine, run as root (or with sudo available):
#   1. Debian packages: QGIS 3.22 with its Python bindings, GDAL, Xvfb, matplotlib;
#   2. a venv on /usr/bin/python3 with --system-site-packages (so it sees QGIS, numpy, GDAL);
#   3. the pinned Python packages of requirements-dev.txt.
# Each step checks what is there and skips it. Prints the venv's python path on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SUBSIDENCE_LAB_VENV:-/opt/subsidence-lab-venv}"
say() { echo "[setup] $*" >&2; }

debs=(python3-qgis qgis qgis-providers python3-gdal python3-matplotlib python3-venv python3-pip xvfb xauth)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]} (about 2 minutes)"
  log="$(mktemp /tmp/subsidence-lab-apt.XXXXXX.log)"
  if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    say "apt-get failed; full log: $log"
    exit 1
  fi
  say "Debian packages installed (log: $log)"
else
  say "Debian packages present: ${debs[*]}"
fi

if [ ! -x "$venv/bin/python" ]; then
  say "creating venv $venv (--system-site-packages on /usr/bin/python3)"
  /usr/bin/python3 -m venv --system-site-packages "$venv" >&2
else
  say "venv present: $venv"
fi

req="$here/requirements-dev.txt"
stamp="$venv/.subsidence-lab-requirements"
pins_ok() {  # every "name==version" line of requirements-dev.txt is what the venv has
  "$venv/bin/python" - "$req" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1]):
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
if [ -f "$stamp" ] && cmp -s "$req" "$stamp" && pins_ok; then
  say "pinned Python packages present (requirements-dev.txt unchanged)"
else
  say "installing pinned Python packages from requirements-dev.txt (torch CPU wheel from local disk)"
  log="$(mktemp /tmp/subsidence-lab-pip.XXXXXX.log)"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -n 30 >&2
    say "pip install failed; full log: $log"
    exit 1
  fi
  cp "$req" "$stamp"
fi

# numpy/GDAL must be Debian's: a pip copy in the venv would not match QGIS's build.
"$venv/bin/python" - >&2 <<'PY'
import numpy, osgeo
bad = [m.__name__ for m in (numpy, osgeo) if not m.__file__.startswith("/usr/lib/python3/")]
if bad:
    raise SystemExit(f"[setup] {bad} shadowed by a pip install in the venv; remove it: they must be Debian's")
from qgis.core import Qgis
print(f"[setup] ready: QGIS {Qgis.QGIS_VERSION}, numpy {numpy.__version__}, GDAL {osgeo.__version__}")
PY
echo "$venv/bin/python"
