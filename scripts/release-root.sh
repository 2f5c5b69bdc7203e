#!/usr/bin/env bash
# A root file system of another Debian release, with packages installed, cached: the multi-host lab's
# hosts of Debian 11 and 13 (test/support/hosts/release.ts) and the Debian 13 workstation of
# .ci/fresh-root are made from these. Prints the root's path; never changes a root once made.
#
# Usage: scripts/release-root.sh [--recommends] RELEASE [PACKAGE...]   (as root; e.g. bullseye postfix openssh-server)
#   --recommends   install the packages' Recommends too, as a plain `apt-get install` does (the Debian 13
#                  workstation of .ci/fresh-root); without it, --no-install-recommends (the lab's hosts)
#        scripts/release-root.sh --lab-host RELEASE
#                  the multi-host lab's host of RELEASE (test/support/hosts/release.ts; .ci/run warms it):
#                  what the lab runs on a host (LAB_HOST_PKGS), nothing more
#
# Recipe: `debootstrap --variant=minbase RELEASE` from this machine's Debian mirror (the first URIs: of
# /etc/apt/sources.list.d/debian.sources), apt pointed at the same mirror for RELEASE and
# RELEASE-updates, a policy-rc.d that denies every start (no package script starts a daemon), Postfix
# preseeded "No configuration" (each lab host runs its own dpkg-reconfigure), then
# `apt-get install --no-install-recommends PACKAGE...`. apt's package lists and .deb files are dropped
# from the root (the .debs are kept in the cache for the next build).
#
# Cache: $POSTFIX_TLS_RELAY_CI_CACHE (default /var/cache/postfix-tls-relay-ci, shared with .ci/fresh-root),
# one directory per RELEASE, ISO week and hash of (recipe, mirror, packages): a new week makes a new root
# with that week's updates, and the roots of older weeks of that release and package set are removed.
# Built in a temp directory, renamed into place when complete: an interrupted build leaves nothing that
# looks usable. A failed build is an error (exit 1, debootstrap's or apt's last lines on stderr): the
# tests that need the root fail rather than skip.
set -euo pipefail

CACHE=${POSTFIX_TLS_RELAY_CI_CACHE:-/var/cache/postfix-tls-relay-ci}
RECIPE_VERSION=1

log() { printf 'release-root: %s\n' "$*" >&2; }

LAB_HOST_PKGS="postfix openssh-server rsync sudo ca-certificates ssl-cert openssl"
RECOMMENDS=--no-install-recommends
if [ "${1:-}" = --recommends ]; then
	RECOMMENDS=--install-recommends
	shift
fi
if [ "${1:-}" = --lab-host ] && [ $# -eq 2 ]; then
	# shellcheck disable=SC2086 # the package list is words
	set -- "$2" $LAB_HOST_PKGS
fi
[ $# -ge 1 ] || { echo "usage: $0 [--recommends] RELEASE [PACKAGE...] | --lab-host RELEASE" >&2; exit 2; }
RELEASE=$1
shift
case $RELEASE in *[!a-z]* | '') echo "$0: RELEASE must be a Debian code name such as bullseye or trixie, not '$RELEASE'" >&2; exit 2 ;; esac
for p in "$@"; do
	case $p in *[!a-z0-9.+-]* | '' | -*) echo "$0: '$p' is not a Debian package name" >&2; exit 2 ;; esac
done
[ "$(id -u)" -eq 0 ] || { echo "$0: must run as root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "$0: debootstrap is missing: sh scripts/install-system-packages.sh test" >&2; exit 1; }

# This machine's Debian mirror: deb822 (Debian 12 and later) or a sources.list line (a debootstrapped root).
mirror() {
	local u=
	[ -f /etc/apt/sources.list.d/debian.sources ] && u=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources | head -1)
	[ -z "$u" ] && [ -f /etc/apt/sources.list ] && u=$(sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\)[[:space:]].*/\2/p' /etc/apt/sources.list | head -1)
	echo "${u:-http://deb.debian.org/debian}"
}
MIRROR=$(mirror)
PKGS=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')
HASH=$(printf '%s\n' "$RECIPE_VERSION" "$MIRROR" "$PKGS" "$RECOMMENDS" | sha256sum | cut -c1-12)
WEEK=$(date -u +%G-w%V)
ROOT=$CACHE/$RELEASE-$HASH-$WEEK

DEBS=$CACHE/debs-$RELEASE-$HASH # apt locks its archive directory: one per root, so that roots build side by side
mkdir -p "$DEBS/partial"
exec 9>"$CACHE/$RELEASE-$HASH.lock"
flock 9
if [ -x "$ROOT/usr/bin/apt-get" ] && [ -f "$ROOT/.release-root-complete" ]; then
	echo "$ROOT"
	exit 0
fi
for old in "$CACHE/$RELEASE-$HASH"-*; do
	case $old in *.lock | *.log) continue ;; esac
	if [ -e "$old" ] && [ "$old" != "$ROOT" ]; then rm -rf "$old"; fi
done

TMP=$ROOT.tmp.$$
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP
T0=$SECONDS
LOG=$CACHE/$RELEASE-$HASH.log
log "debootstrap --variant=minbase $RELEASE ($MIRROR) → $ROOT"
debootstrap --variant=minbase --cache-dir="$DEBS" "$RELEASE" "$TMP" "$MIRROR" >"$LOG" 2>&1 ||
	{ tail -20 "$LOG" >&2; log "debootstrap $RELEASE failed (log: $LOG)"; exit 1; }

rm -f "$TMP/etc/apt/sources.list"
cat >"$TMP/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $RELEASE $RELEASE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cp /etc/resolv.conf "$TMP/etc/resolv.conf"
printf '#!/bin/sh\n# release-root.sh: no service starts in a cached root\nexit 101\n' >"$TMP/usr/sbin/policy-rc.d"
chmod 0755 "$TMP/usr/sbin/policy-rc.d"

if [ $# -gt 0 ]; then
	log "$RELEASE: apt-get install $PKGS"
	# In a mount namespace of its own: /proc, /dev and the .deb cache mounted for apt, gone with it.
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- /bin/sh -c '
		set -e
		R=$1 D=$2 REC=$3
		shift 3
		mount -t proc proc "$R/proc"
		mount --bind /dev "$R/dev"
		mount --bind "$D" "$R/var/cache/apt/archives"
		echo "postfix postfix/main_mailer_type select No configuration" | chroot "$R" debconf-set-selections
		chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
			sh -c "apt-get update -qq && apt-get install -y -qq $REC \"\$@\"" sh "$@"
	' sh "$TMP" "$DEBS" "$RECOMMENDS" "$@" >>"$LOG" 2>&1 ||
		{ tail -20 "$LOG" >&2; log "apt-get install in $RELEASE failed (log: $LOG)"; exit 1; }
fi
rm -rf "$TMP"/var/lib/apt/lists/* "$TMP"/var/cache/apt/archives/*.deb
touch "$TMP/.release-root-complete"
mv "$TMP" "$ROOT"
trap - EXIT
log "$RELEASE ready in $((SECONDS - T0)) s: $ROOT"
echo "$ROOT"
