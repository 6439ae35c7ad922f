#!/usr/bin/env bash
# Makes sure the programs kuaifan's tests drive are installed: Debian's
# Mosquitto (a second, external broker) and Chromium with a CJK font (the
# dashboard's browser tests). Installs what is missing when it can (root with
# apt-get); otherwise says exactly what to install. Under CI=true a missing
# tool is an error, because the tests must not skip there.
set -u
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi 'cjk' || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test dependencies: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
     { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    exit 0
  fi
  echo "apt-get could not install: ${missing[*]}" >&2
fi
echo "kuaifan's tests need: ${missing[*]}" >&2
echo "install them with:    sudo apt-get install ${missing[*]}" >&2
if [ "${CI:-}" = true ]; then
  exit 1
fi
echo "(outside CI the tests that need them are skipped)" >&2
exit 0
