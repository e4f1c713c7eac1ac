#!/bin/sh
# fw-size.sh: cross-build the freestanding firmware core (firmware/core + proto)
# for a RISC-V ESP32-C3-class target and print its code and static RAM use.
#
# Targets (issue): .text <= 24 KiB; static RAM (.data + .bss of the core
# itself) <= 4 KiB. The mepc_client struct is allocated by the port, so its
# size is printed separately (from a tiny translation unit holding one
# static instance). Exits non-zero if a target is exceeded or the build fails.
#
# Usage: ci/fw-size.sh [build-dir]   (default: a fresh temporary directory)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CC=${CROSS_CC:-riscv64-unknown-elf-gcc}
SIZE=${CROSS_SIZE:-riscv64-unknown-elf-size}
NM=${CROSS_NM:-riscv64-unknown-elf-nm}
CFLAGS="-march=rv32imc -mabi=ilp32 -ffreestanding -Os -ffunction-sections -fdata-sections -std=c11 \
-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -I$ROOT/proto -I$ROOT/firmware/core"
TEXT_MAX=24576
RAM_MAX=4096

command -v "$CC" >/dev/null 2>&1 || { echo "fw-size: $CC not found (apt install gcc-riscv64-unknown-elf)" >&2; exit 2; }

if [ $# -ge 1 ]; then
    OUT=$1
    mkdir -p "$OUT"
else
    OUT=$(mktemp -d)
    trap 'rm -rf "$OUT"' EXIT
fi

objs=""
for src in "$ROOT"/firmware/core/*.c "$ROOT"/proto/mep_digest.c "$ROOT"/proto/mep_rc4.c "$ROOT"/proto/mep_frame.c; do
    obj="$OUT/$(basename "$src" .c).o"
    $CC $CFLAGS -c "$src" -o "$obj"
    objs="$objs $obj"
done

echo "Per object (riscv32 rv32imc, -Os):"
# shellcheck disable=SC2086
$SIZE $objs | sed "s|$OUT/||"
# shellcheck disable=SC2086
set -- $($SIZE -t $objs | tail -n 1)
text=$1 data=$2 bss=$3

# sizeof(mepc_client): one static instance in its own object
cat > "$OUT/client_instance.c" <<'C'
#include "mepc.h"
mepc_client fw_size_client_instance;
C
$CC $CFLAGS -c "$OUT/client_instance.c" -o "$OUT/client_instance.o"
hex=$($NM -S "$OUT/client_instance.o" | awk '/fw_size_client_instance/ { print $2 }')
if [ -n "$hex" ]; then
    client=$((0x$hex))
else
    client=$($SIZE "$OUT/client_instance.o" | awk 'NR==2 { print $2 + $3 }')
fi

ram=$((data + bss))
echo
echo "firmware core total: .text $text B (limit $TEXT_MAX), .data $data B, .bss $bss B," \
     "static RAM $ram B (limit $RAM_MAX)"
echo "sizeof(mepc_client) = $client B (allocated by the port)"

rc=0
[ "$text" -le "$TEXT_MAX" ] || { echo "fw-size: .text over budget" >&2; rc=1; }
[ "$ram" -le "$RAM_MAX" ] || { echo "fw-size: static RAM over budget" >&2; rc=1; }
exit $rc
