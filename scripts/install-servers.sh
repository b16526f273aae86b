#!/usr/bin/env bash
# Installs the real XMPP servers that the interop tests and the demo start on their own
# ports: Prosody and ejabberd from Debian's packages (Debian 12 or later), as root.
# Services the packages start on the standard ports are left alone; nothing here uses them.
set -euo pipefail
packages=(prosody ejabberd lua-sec lua-unbound)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "error: installing ${missing[*]} needs root: run 'sudo $0' once, then try again" >&2
    exit 1
fi
echo "installing ${missing[*]} (apt-get)..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q "${missing[@]}" >/tmp/xmpp-sansio-apt.log 2>&1; then
    # A fresh machine may have no package lists yet.
    apt-get update -q >>/tmp/xmpp-sansio-apt.log 2>&1
    apt-get install -y -q "${missing[@]}" >>/tmp/xmpp-sansio-apt.log 2>&1 || {
        tail -20 /tmp/xmpp-sansio-apt.log >&2
        exit 1
    }
fi
echo "installed ${missing[*]}" >&2
