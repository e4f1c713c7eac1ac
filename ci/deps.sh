#!/usr/bin/env bash
# Install the Debian packages this project needs, only those missing.
# Used by ci/test.sh and ci/demo.sh; safe to run repeatedly; needs root
# (or sudo) only when something is missing. Works without a terminal.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang
  check libev-dev libserialport-dev libmbedtls-dev libjansson-dev
  python3 python3-pytest python3-serial python3-yaml ser2net
  # packaging (ci/package.sh, packaging/README.md): man pages, completion, sd_notify
  scdoc bash-completion libsystemd-dev dpkg-dev man-db
  mosquitto libmosquitto-dev python3-paho-mqtt
  gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
  valgrind python3-labgrid python3-pytest-xdist
  # Arduino host kit: 32-bit sketches (g++ -m32 -static), run through qemu-i386 where the
  # kernel has no IA32 emulation
  g++-multilib qemu-user curl
  # captures: tshark runs the Wireshark dissector in tests (hil/wireshark/mep.lua)
  tshark
  # the dashboard's real-browser test (headless), certificates for the MQTT TLS tests
  chromium openssl
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing missing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "deps: missing packages and not root (no sudo): ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# tshark's package asks whether non-root users may capture: no (nothing here captures live)
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
