#!/bin/sh
# Installs the Debian/Ubuntu packages postfix-tls-relay needs. POSIX sh, idempotent, non-interactive;
# used by CI and by the Dockerfile.
#
# Usage: install-system-packages.sh runtime|test|all
#   runtime     openssl gnupg rsync openssh-client ca-certificates
#   test, all   runtime + postfix swaks openssh-server make strace, and for the multi-host lab
#               libnet-ssleay-perl libio-socket-ssl-perl iproute2 dnsmasq nftables sudo sslscan
#
# Packages already installed are skipped (dpkg-query); when nothing is missing, nothing is fetched.
# postfix is installed as "No configuration": no /etc/postfix/main.cf, so the default instance
# cannot run; the tests run their own instances (postfix -c DIR). The services that the postfix,
# openssh-server and dnsmasq packages register are disabled and stopped again when this script installed them:
# the tests need the binaries only (the sshd they use is a private one on 127.0.0.1).
set -eu

RUNTIME_PKGS="openssl gnupg rsync openssh-client ca-certificates"
TEST_PKGS="postfix swaks openssh-server make strace"
# The multi-host lab (test/support/hosts): swaks' STARTTLS modules (only Recommends), ip for the lab's
# network, dnsmasq its name server, nft the ISP's port-25 block, sudo for deploys as a non-root user,
# sslscan the TLS scan. Namespaces and mounts (unshare, nsenter, setpriv, mount) are util-linux and
# mount, Essential/required on every Debian; ssl-cert (make-ssl-cert) comes with postfix.
TEST_PKGS="$TEST_PKGS libnet-ssleay-perl libio-socket-ssl-perl iproute2 dnsmasq nftables sudo sslscan"

usage() {
	echo "usage: $0 runtime|test|all" >&2
	exit 2
}

[ $# -eq 1 ] || usage
case $1 in
runtime) WANT=$RUNTIME_PKGS ;;
test | all) WANT="$RUNTIME_PKGS $TEST_PKGS" ;;
*) usage ;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "$0: must run as root (e.g. sudo $0 $1)" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
	echo "$0: needs a Debian-based system (apt-get, dpkg-query)" >&2
	exit 1
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' ok installed$'
}

MISSING=
for pkg in $WANT; do
	installed "$pkg" || MISSING="$MISSING $pkg"
done
if [ -z "$MISSING" ]; then
	echo "install-system-packages: already installed: $WANT"
	exit 0
fi

case " $MISSING " in
*" postfix "*)
	# Must be set before postfix is unpacked: no main.cf, no default instance.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	;;
esac

export DEBIAN_FRONTEND=noninteractive
echo "install-system-packages: installing:$MISSING"
apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $MISSING

# Disable and stop what a package just registered: quiet_service SYSV-NAME SYSTEMD-UNIT... (no-op in
# containers, where nothing was started).
quiet_service() {
	name=$1
	shift
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		for unit in "$@"; do
			systemctl disable --now "$unit" >/dev/null 2>&1 || true
		done
	else
		if [ -x "/etc/init.d/$name" ]; then "/etc/init.d/$name" stop >/dev/null 2>&1 || true; fi
		if command -v update-rc.d >/dev/null 2>&1; then update-rc.d "$name" disable >/dev/null 2>&1 || true; fi
	fi
}

case " $MISSING " in
*" postfix "*)
	quiet_service postfix postfix.service 'postfix@-.service'
	# A main.cf left behind by an earlier, unpurged postfix would have let the package start it.
	if [ -f /etc/postfix/main.cf ] && postfix status >/dev/null 2>&1; then postfix stop || true; fi
	;;
esac
case " $MISSING " in
*" openssh-server "*) quiet_service ssh ssh.service ssh.socket ;;
esac
case " $MISSING " in *" dnsmasq "*) quiet_service dnsmasq dnsmasq.service ;; esac

echo "install-system-packages: done"
