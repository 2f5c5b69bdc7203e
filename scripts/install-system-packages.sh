#!/bin/sh
# Installs the Debian/Ubuntu packages postfix-tls-relay needs. POSIX sh, idempotent, non-interactive;
# used by `npm start` (prestart, runtime), `npm test` (pretest, test), CI and the Dockerfile.
#
# Usage: install-system-packages.sh [--if-needed] runtime|test|all   (as root)
#   runtime     what the tool runs: openssl gnupg rsync openssh-client ca-certificates
#   test, all   runtime + every package a test uses (TEST_PKGS below)
#   --if-needed for npm start/test: nothing missing -> silent; something missing but not root or not
#               on Debian -> one line saying what to run, exit 0 (the tests then say what they skip)
#
# What counts is checked as a capability where a package name is not enough: swaks must speak STARTTLS
# (its TLS modules are only Recommends, so `--no-install-recommends` leaves them out) and posttls-finger
# must exist. When nothing is missing, nothing is fetched.
# postfix is installed as "No configuration": no /etc/postfix/main.cf, so the default instance
# cannot run; the tests run their own instances (postfix -c DIR). The services that the postfix,
# openssh-server, dnsmasq and prometheus packages register are disabled and stopped again when this
# script installed them: the tests need the binaries only (the sshd they use is a private one on 127.0.0.1).
set -eu

RUNTIME_PKGS="openssl gnupg rsync openssh-client ca-certificates"
# postfix, swaks + its TLS modules, sshd: the end-to-end lab; make: the seed-format Makefile; strace:
# the secrets tests; iproute2 dnsmasq nftables sudo sslscan ssl-cert: the multi-host lab (namespaces, DNS, the
# ISP's port-25 block, sudo deploys, TLS scans, the stock hosts' snakeoil certificate: a dependency of
# postfix up to Debian 12, only recommended from Debian 13); podman buildah runc debootstrap: the image test;
# ansible-core, prometheus (promtool), systemd (systemd-analyze): the ansible, metrics and examples tests;
# testssl.sh: the relay's TLS audit (relay_tls_profile).
TEST_PKGS="postfix swaks libnet-ssleay-perl libio-socket-ssl-perl openssh-server make strace
iproute2 dnsmasq nftables sudo sslscan ssl-cert podman buildah runc debootstrap ansible-core prometheus systemd
testssl.sh postfix-policyd-spf-python"

IF_NEEDED=
if [ "${1:-}" = --if-needed ]; then
	IF_NEEDED=1
	shift
fi

usage() {
	echo "usage: $0 [--if-needed] runtime|test|all" >&2
	exit 2
}

[ $# -eq 1 ] || usage
case $1 in
runtime) WANT=$RUNTIME_PKGS ;;
test | all) WANT="$RUNTIME_PKGS $TEST_PKGS" ;;
*) usage ;;
esac
WANT=$(echo $WANT) # one line

# Packages of WANT that dpkg does not list as installed (one dpkg-query for all: fast enough for pretest).
missing_packages() {
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	ok=$(dpkg-query -W -f='${Package} ${Status}\n' $WANT 2>/dev/null | awk '/ ok installed$/ { print $1 }' | sed 's/:.*//')
	for pkg in $WANT; do
		case " $(echo $ok) " in *" $pkg "*) ;; *) printf ' %s' "$pkg" ;; esac
	done
}

# Capabilities the tests rely on, as "what is missing (package to install)".
missing_capabilities() {
	case $1 in runtime) return 0 ;; esac
	if command -v swaks >/dev/null 2>&1 && ! swaks --support 2>&1 | grep -q '^=== TLS supported'; then
		printf ' swaks-STARTTLS(libnet-ssleay-perl,libio-socket-ssl-perl)'
	fi
	if command -v postconf >/dev/null 2>&1 && [ ! -x /usr/sbin/posttls-finger ] && ! command -v posttls-finger >/dev/null 2>&1; then
		printf ' posttls-finger(postfix)'
	fi
}

have_apt() { command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; }

if ! have_apt; then
	if [ -n "$IF_NEEDED" ]; then
		echo "postfix-tls-relay: not a Debian-based system; install the equivalents of these Debian packages, then run npm test as root: $WANT"
		exit 0
	fi
	echo "$0: needs a Debian-based system (apt-get, dpkg-query); install the equivalents of: $WANT" >&2
	exit 1
fi

MISSING=$(missing_packages)
LACKING=$(missing_capabilities "$1")
ROOT=
[ "$(id -u)" -ne 0 ] || ROOT=1
if [ -z "$MISSING$LACKING" ]; then
	if [ -z "$IF_NEEDED" ]; then
		echo "install-system-packages: already installed: $WANT"
	elif [ -z "$ROOT" ] && [ "$1" != runtime ]; then
		echo "postfix-tls-relay: not root, so the Postfix lab and mount tests skip; for all of them run: sudo npm test"
	fi
	exit 0
fi
if [ -z "$ROOT" ]; then
	if [ -n "$IF_NEEDED" ]; then
		# The one line for a user's `npm test`: tests that need what is missing skip (fail when CI is set).
		if [ "$1" = runtime ]; then
			echo "postfix-tls-relay: missing:$MISSING; run: sudo sh scripts/install-system-packages.sh runtime"
		else
			echo "postfix-tls-relay: missing for the tests:$MISSING$LACKING; run: sudo sh scripts/install-system-packages.sh $1 && sudo npm test"
		fi
		exit 0
	fi
	echo "$0: must run as root (e.g. sudo sh $0 $1)" >&2
	exit 1
fi

# A capability that is missing although its packages are installed: reinstalling them is a no-op, so
# name the packages that provide it (they are in WANT, so only the broken case gets here).
for c in $LACKING; do
	pkgs=$(echo "$c" | sed 's/.*(\(.*\))/\1/' | tr , ' ')
	for pkg in $pkgs; do
		case " $MISSING " in *" $pkg "*) ;; *) MISSING="$MISSING $pkg" ;; esac
	done
done

case " $MISSING " in
*" postfix "*)
	# Must be set before postfix is unpacked: no main.cf, no default instance.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	;;
esac

export DEBIAN_FRONTEND=noninteractive
# Nothing this installs may start (dnsmasq on port 53, a default Postfix, sshd on 22, prometheus): a
# policy-rc.d that denies every start, for the time of the install only, unless the system has one.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	trap 'exit 1' HUP INT TERM
	printf '#!/bin/sh\n# install-system-packages.sh: no service starts while it installs\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 0755 /usr/sbin/policy-rc.d
fi
echo "install-system-packages: installing:$MISSING"
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $MISSING

# Disable what a package just registered, and stop it should it have started all the same:
# quiet_service SYSV-NAME SYSTEMD-UNIT...
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
case " $MISSING " in *" openssh-server "*) quiet_service ssh ssh.service ssh.socket ;; esac
case " $MISSING " in *" dnsmasq "*) quiet_service dnsmasq dnsmasq.service ;; esac
case " $MISSING " in *" prometheus "*) quiet_service prometheus prometheus.service ;; esac

STILL=$(missing_capabilities "$1")
if [ -n "$STILL" ]; then
	echo "$0: installed, but still missing:$STILL" >&2
	exit 1
fi
echo "install-system-packages: done"
