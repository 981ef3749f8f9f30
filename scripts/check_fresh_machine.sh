#!/usr/bin/env bash
# Proves the README's set-up on a bare Debian 12: builds a minimal bookworm
# root (debootstrap --variant=minbase) with only build-essential, cmake, git
# and ca-certificates, clones this repository's HEAD into it, runs
# `make build` there (scripts/setup.sh installs the rest, as for a new user)
# and then a short run of every program (scripts/smoke_programs.sh).
#
# A green CI on a developer's machine once hid a missing install step
# (issue 9): this script never uses a package of the host.
#
# The bare root is cached in $SEGC_FRESH_CACHE (default /var/tmp/segc-fresh)
# and copied for each run, so every run starts from the same bare state; it
# is built anew when absent. The Debian mirror is read from this machine's
# apt sources (or $SEGC_DEBIAN_MIRROR). Needs root (debootstrap, chroot,
# mount). Only committed work is checked: the clone is of HEAD.
#   bash scripts/check_fresh_machine.sh [--with-tests]
# --with-tests also runs `make test` there, with ../shared (if present)
# mounted read-only beside the clone as CI has it (about 10 minutes more).
set -euo pipefail

with_tests=false
case "${1:-}" in
  "") ;;
  --with-tests) with_tests=true ;;
  *) echo "usage: bash scripts/check_fresh_machine.sh [--with-tests]" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${SEGC_FRESH_CACHE:-/var/tmp/segc-fresh}
bare="$cache/bookworm-minbase"
base_packages=(build-essential cmake git ca-certificates)

say() { echo "check_fresh_machine: $*"; }
die() { echo "check_fresh_machine: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mount); run it as root"
[ "$(uname -m)" = x86_64 ] || die "made for x86_64 (amd64) hosts, not $(uname -m)"
commit=$(git -C "$repo" rev-parse HEAD) || die "$repo is not a git repository"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  say "note: uncommitted changes in $repo are not checked (the clone is of HEAD)"
fi

# The first Debian bookworm mirror in the host's apt sources, one-line
# (sources.list) or deb822 (*.sources) format.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                       if ($(i + 1) == "bookworm") { print $i; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # Stanzas are separated by blank lines; print the URI of the first one
    # whose Suites list holds "bookworm" itself.
    awk 'BEGIN { RS = ""; FS = "\n" }
         { uri = ""; ok = 0
           for (i = 1; i <= NF; i++) {
             if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uri = u[2] }
             if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/)
                                    for (j = 2; j <= n; j++) if (s[j] == "bookworm") ok = 1 } }
           if (ok && uri != "") { print uri; exit } }' "$f"
  done
}

mirror=${SEGC_DEBIAN_MIRROR:-$(debian_mirror | head -n 1)}
[ -n "$mirror" ] || die "no Debian bookworm mirror in /etc/apt/sources.list*; set SEGC_DEBIAN_MIRROR"

if ! command -v debootstrap > /dev/null; then
  say "installing debootstrap on the host (the tool only; nothing of segc's)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends debootstrap > /dev/null ||
    { apt-get update -q > /dev/null && apt-get install -y -q --no-install-recommends debootstrap > /dev/null; } ||
    die "could not install debootstrap"
fi

# Runs a command inside a root with a clean environment.
in_root() {
  local root=$1; shift
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive "$@"
}

mounted=()
unmount_all() {
  local i
  for (( i = ${#mounted[@]} - 1; i >= 0; i-- )); do
    umount "${mounted[$i]}" 2> /dev/null || umount -l "${mounted[$i]}" 2> /dev/null || true
  done
  mounted=()
}
mount_in() {  # mount_in ROOT mount-args... TARGET (TARGET relative to ROOT)
  local root=$1; shift
  local target="$root${*: -1}"
  mkdir -p "$target"
  mount "${@:1:$#-1}" "$target"
  mounted+=("$target")
}

work=""
cleanup() {
  unmount_all
  # --one-file-system: never follow a mount that failed to come off.
  if [ -n "$work" ] && [ -d "$work" ]; then rm -rf --one-file-system "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$cache"
if [ ! -f "$bare/.segc-bare-complete" ]; then
  say "building the bare Debian 12 root from $mirror (cached in $bare)"
  partial="$cache/partial.$$"
  work="$partial"
  rm -rf --one-file-system "$cache"/partial.* "$bare"
  debootstrap --variant=minbase bookworm "$partial" "$mirror" > "$cache/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $cache/debootstrap.log"
  cp /etc/resolv.conf "$partial/etc/resolv.conf"
  mount_in "$partial" -t proc proc /proc
  { in_root "$partial" apt-get update -q &&
    in_root "$partial" apt-get install -y -q --no-install-recommends "${base_packages[@]}" &&
    in_root "$partial" apt-get clean; } > "$cache/base_packages.log" 2>&1 ||
    die "installing ${base_packages[*]} in the bare root failed; see $cache/base_packages.log"
  unmount_all
  touch "$partial/.segc-bare-complete"
  mv "$partial" "$bare"
  work=""
fi

work="$cache/run.$$"
say "copying the bare root to $work"
cp -a "$bare" "$work"
cp /etc/resolv.conf "$work/etc/resolv.conf"
mount_in "$work" -t proc proc /proc
mount_in "$work" --bind -o ro "$repo" /mnt/segc-origin
mount -o remount,bind,ro "$work/mnt/segc-origin"

say "cloning $commit into the fresh root"
in_root "$work" git -c safe.directory='*' clone -q --no-hardlinks /mnt/segc-origin /root/segc
in_root "$work" git -c advice.detachedHead=false -C /root/segc checkout -q "$commit"
unmount_all
mount_in "$work" -t proc proc /proc

say "make build (scripts/setup.sh installs the packages as for a new user)"
start=$(date +%s)
in_root "$work" bash -c 'cd /root/segc && make build JOBS=$(nproc)' > "$cache/make_build.log" 2>&1 || {
  tail -n 30 "$cache/make_build.log" >&2
  die "make build failed in the fresh root (whole log: $cache/make_build.log)"
}
say "make build passed in $(( $(date +%s) - start )) s"

say "a short run of every program"
if ! in_root "$work" bash -c 'cd /root/segc && bash scripts/smoke_programs.sh build /tmp/smoke' \
     > "$cache/smoke.log" 2>&1; then
  tail -n 30 "$cache/smoke.log" >&2
  die "the programs' smoke run failed in the fresh root (whole log: $cache/smoke.log)"
fi
grep '^smoke:' "$cache/smoke.log" || true
if $with_tests; then
  if [ -d "$repo/../shared" ]; then
    mount_in "$work" --bind -o ro "$(cd "$repo/../shared" && pwd)" /root/shared
    mount -o remount,bind,ro "$work/root/shared"
  fi
  say "make test in the fresh root"
  if ! in_root "$work" bash -c 'cd /root/segc && make test' > "$cache/make_test.log" 2>&1; then
    tail -n 30 "$cache/make_test.log" >&2
    die "make test failed in the fresh root (whole log: $cache/make_test.log)"
  fi
  grep -E 'tests passed|tests failed' "$cache/make_test.log" || true
fi
say "passed: a bare Debian 12 with ${base_packages[*]} builds and runs segc $commit"
