#!/usr/bin/env bash
# Install headless Chromium from the system's Debian packages when /usr/bin/chromium is absent (tox env `browser`,
# tests/test_site_browser.py). Root runs apt-get directly; anyone else goes through sudo.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
else
    echo "install_chromium.sh: /usr/bin/chromium is missing and this user is not root and has no sudo;" \
         "install the Debian package 'chromium' (apt-get install chromium) and rerun" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
