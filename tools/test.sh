#!/bin/bash
# The whole test suite, on a fresh Debian 12 machine, as root:
#   - installs the Debian packages the tests use (Courier, PostgreSQL, slapd,
#     clamav-daemon, spamd, rspamd, redis-server, Debian's python3 with venv
#     and gdbm),
#   - makes a virtualenv with Debian's /usr/bin/python3 (Courier's mail user
#     must be able to run the interpreter, so never one under /root),
#   - installs pyfilter into it (a normal install: setuptools' editable mode
#     hides twisted/plugins),
#   - runs every test with trial.
# Every long step runs under `timeout`, so a hang fails fast.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${PYFILTER_TEST_VENV:-/opt/pyfilter-test}
PACKAGES=(python3-venv python3-gdbm python3-dev
          courier-mta courier-authdaemon courier-authlib-userdb
          postgresql slapd ldap-utils clamav-daemon clamav spamassassin spamc spamd
          rspamd redis-server libpython3.11-testsuite)

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    debconf-set-selections <<'SEL'
courier-base courier-base/webadmin-configmode boolean false
courier-base courier-base/maildir string Maildir
courier-mta courier-mta/defaultdomain string example.test
courier-mta courier-mta/dsnfrom string mailer-daemon@example.test
slapd slapd/no_configuration boolean true
SEL
    # Keep the packages' maintainer scripts from starting daemons: the tests
    # start their own, in temporary directories.
    policy=/usr/sbin/policy-rc.d
    madePolicy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        madePolicy=1
    fi
    timeout 600 apt-get update -qq
    timeout 1200 apt-get install -y -qq --no-install-recommends "${missing[@]}"
    [ -n "$madePolicy" ] && rm -f "$policy"
fi

echo "== virtualenv $VENV"
[ -x "$VENV/bin/python" ] || timeout 300 /usr/bin/python3 -m venv "$VENV"
timeout 900 "$VENV/bin/pip" install -q --upgrade pip
rm -rf build
timeout 900 "$VENV/bin/pip" install -q . hypothesis dkimpy pyyaml
rm -rf build

echo "== courier-pythonfilter 3.0.6 sdist (its own tests run against pyfilter's compatibility layer)"
REFERENCE_CACHE=${PYFILTER_REFERENCE_CACHE:-/var/cache/pyfilter-test}
export PYFILTER_REFERENCE_SDIST=$REFERENCE_CACHE/courier-pythonfilter-3.0.6.tar.gz
[ -f "$PYFILTER_REFERENCE_SDIST" ] || timeout 300 "$VENV/bin/pip" download -q --no-deps \
    --no-binary :all: courier-pythonfilter==3.0.6 -d "$REFERENCE_CACHE"

echo "== pyspf sdist (its RFC 7208 test suite: pyfilter's SPF checked against pyspf's own)"
export PYFILTER_SPF_SUITE=${PYFILTER_SPF_SUITE:-/var/cache/pyfilter-test/pyspf}
ls "$PYFILTER_SPF_SUITE"/pyspf-*.tar.gz >/dev/null 2>&1 || timeout 300 "$VENV/bin/pip" download -q --no-deps \
    --no-binary :all: "pyspf==$("$VENV/bin/python" -c 'import spf; print(spf.__version__)')" -d "$PYFILTER_SPF_SUITE"

export PYFILTER_MAIL_CORPORA=${PYFILTER_MAIL_CORPORA:-/var/cache/pyfilter-test/mail-corpora}
timeout 900 "$VENV/bin/python" -m tests.test_mime_corpora "$PYFILTER_MAIL_CORPORA"

echo "== tests"
# The end-to-end tests install, configure and run this machine's Courier.
export PYFILTER_TEST_COURIER=1
exec timeout 1500 "$VENV/bin/python" -m twisted.trial tests
