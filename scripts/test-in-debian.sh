#!/usr/bin/env bash
# Run the README's test command (`bash scripts/test.sh`) inside a Debian root built with
# debootstrap: the second QGIS version the tests prove (Debian 13 "trixie": QGIS 3.40,
# Python 3.13, numpy 2.2, GDAL 3.10). A developer command, not part of CI (the first run
# downloads and installs QGIS into the root: 10-20 minutes; later runs reuse the root).
#
#   sudo bash scripts/test-in-debian.sh [SUITE] [pytest args...]     SUITE defaults to trixie
#
# The root is kept in $SUBSIDENCE_LAB_ROOTS/<suite> (default /var/tmp/subsidence-lab-roots),
# outside any checkout. The checkout is cloned to /srv/lab/<name> in the root with its
# uncommitted and untracked (not ignored) files laid over, ../shared is bind-mounted read-only
# beside it, and /proc, /sys and /dev are bind-mounted; every mount is undone on exit. The
# root's Debian packages and venv persist, so a second run only re-runs the tests.
set -euo pipefail
{ # read whole before it runs: a checkout updated during a run cannot change the running script
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
suite="trixie"
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then suite="$1"; shift; fi
roots="${SUBSIDENCE_LAB_ROOTS:-/var/tmp/subsidence-lab-roots}"
root="$roots/$suite"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
shared="$(cd "$here/.." && pwd)/shared"
name="$(basename "$here")"
say() { echo "[test-in-debian] $*" >&2; }
quiet() {  # run a command with its output in a log; show the log's tail if it fails
  local log
  log="$(mktemp "/tmp/subsidence-lab-$1.XXXXXX.log")"; shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "failed: $*; full log: $log"
    return 1
  fi
  rm -f "$log"
}

[ "$(id -u)" -eq 0 ] || { say "run as root (debootstrap, chroot and mount need it)"; exit 1; }
case "$root" in "$here"/*) say "the root must be outside the checkout: $root"; exit 1 ;; esac
[ -d "$shared" ] || { say "no $shared beside the checkout (the tests read shared/realdata)"; exit 1; }
[ "$name" != shared ] || { say "the checkout may not be called 'shared' (../shared sits beside it)"; exit 1; }

# One run per root; mounts left by a run that was killed are undone first (a later `rm -rf` of
# the root must never reach this machine's /dev or /proc).
mkdir -p "$roots"
exec 8>"$root.lock"
flock -n 8 || { say "another run is using $root"; exit 1; }
findmnt -rn -o TARGET | awk -v r="$root/" 'index($0, r) == 1' | sort -r | while read -r stale; do
  umount -R -l "$stale" 2>/dev/null || true
done

if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap"
  quiet apt env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  quiet apt env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    debootstrap debian-archive-keyring
fi

if [ ! -f "$root/.subsidence-lab-root" ]; then
  # Built under a temporary name and renamed when complete: an interrupted build is never reused.
  partial="$root.partial"
  rm -rf "$partial"
  say "building a Debian $suite root in $root with debootstrap (5-10 minutes)"
  quiet debootstrap debootstrap --variant=minbase --include=ca-certificates,sudo \
    "$suite" "$partial" "$mirror"
  cat >"$partial/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
  # No service may start inside the root while packages are installed.
  printf '#!/bin/sh\nexit 101\n' >"$partial/usr/sbin/policy-rc.d"
  chmod +x "$partial/usr/sbin/policy-rc.d"
  touch "$partial/.subsidence-lab-root"
  mv "$partial" "$root"
else
  say "reusing the $suite root $root"
fi

# This machine's CA bundle appended to the root's (once), so pip inside trusts what pip here does.
marker="# subsidence-lab: CA bundle of the host"
bundle="$root/etc/ssl/certs/ca-certificates.crt"
if [ -f /etc/ssl/certs/ca-certificates.crt ] && ! grep -qxF "$marker" "$bundle" 2>/dev/null; then
  { echo "$marker"; cat /etc/ssl/certs/ca-certificates.crt; } >>"$bundle"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf"

mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount -R "${mounts[i]}" 2>/dev/null || umount -R -l "${mounts[i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bind() {  # bind SRC DEST [ro]
  mkdir -p "$2"
  mount --rbind "$1" "$2"
  mounts+=("$2")
  mount --make-rslave "$2"
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
bind /proc "$root/proc"
bind /sys "$root/sys"
bind /dev "$root/dev"
bind "$shared" "$root/srv/lab/shared" ro

# A fresh copy of the checkout: a git clone (package.py packs what git tracks) with the working
# tree's uncommitted changes and untracked, not ignored files laid over it.
dest="$root/srv/lab/$name"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
quiet clone git clone -q --no-hardlinks "$here" "$dest"
(cd "$here" && git ls-files -z --cached --others --exclude-standard \
   | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$dest" -xf -
(cd "$here" && git ls-files -z --deleted) | (cd "$dest" && xargs -0 -r rm -f --)

say "running 'bash scripts/test.sh $*' in Debian $suite"
set +e
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 TERM="${TERM:-dumb}" \
  /bin/bash -c 'cd "$1" && shift && exec bash scripts/test.sh "$@"' bash "/srv/lab/$name" "$@"
rc=$?
set -e
say "Debian $suite: exit $rc"
exit "$rc"
}
