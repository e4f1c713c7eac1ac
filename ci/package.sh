#!/usr/bin/env bash
# Build the Debian package and check it from a scratch root, as a user gets it
# (packaging/README.md):
#   1. a Release build of the programs only (-DMEPSIM_TESTS=OFF: no Check);
#   2. cpack -G DEB; its Depends come from dpkg-shlibdeps;
#   3. apt resolves it on this machine (apt-get install --simulate ./pkg.deb:
#      nothing is installed);
#   4. unpacked into a scratch root (dpkg -x): --version of every program, the
#      man pages render, bash completion completes an option, and one exchange
#      through a PTY: the installed mepsim serves the installed mepmod, whose
#      HTTP answer carries the meter's readings.
# Usage: ci/package.sh [BUILD_DIR]   (default build-pkg). Exit 0 when all pass.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-pkg}
JOBS=${JOBS:-2}

cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DMEPSIM_TESTS=OFF >/dev/null
cmake --build "$B" -j"$JOBS" >/dev/null
rm -f "$B"/mepsim_*.deb
(cd "$B" && cpack -G DEB >/dev/null)
deb=$(ls "$B"/mepsim_*.deb)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb -f "$deb" Package Version Depends | sed 's/^/  /'

if [ "$(id -u)" -eq 0 ]; then
  apt-get install --simulate -qq "./$deb" >/dev/null && echo "apt: installable (simulated)"
fi

root=$(mktemp -d)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$root" "$work"
}
trap cleanup EXIT
dpkg -x "$deb" "$root"
bin=$root/usr/bin
fail=0
check() { if "$@"; then echo "ok: $desc"; else echo "FAILED: $desc"; fail=1; fi; }

for p in mepsim mepsim-ctl mepsim-profile mepmod mepsim-cosim; do
  desc="$p --version"
  check bash -c "'$bin/$p' --version | grep -q '[0-9]\+\.[0-9]\+\.[0-9]\+'"
done
for m in man1/mepsim.1 man1/mepsim-ctl.1 man1/mepmod.1 man1/mepsim-cosim.1 man1/mepsim-profile.1 man5/mepsim.conf.5; do
  desc="man page $m renders"
  check bash -c "MANWIDTH=80 man -l '$root/usr/share/man/$m'* 2>/dev/null | grep -q '^NAME'"
done
comp=$root/usr/share/bash-completion/completions
desc="bash completion: mepsim --prof<TAB> gives --profile"
check bash -c "source /usr/share/bash-completion/bash_completion 2>/dev/null; source '$comp/mepsim'
  PATH='$bin':\$PATH; COMP_WORDS=(mepsim --prof); COMP_CWORD=1; COMP_LINE='mepsim --prof'; COMP_POINT=13
  _mepsim mepsim --prof mepsim; [[ \" \${COMPREPLY[*]} \" == *' --profile '* ]]"
desc="bash completion: mepsim-ctl gl<TAB> gives glitch"
check bash -c "source /usr/share/bash-completion/bash_completion 2>/dev/null; source '$comp/mepsim-ctl'
  PATH='$bin':\$PATH; COMP_WORDS=(mepsim-ctl -s x gl); COMP_CWORD=3; COMP_LINE='mepsim-ctl -s x gl'; COMP_POINT=18
  _mepsim_ctl mepsim-ctl gl x; [[ \" \${COMPREPLY[*]} \" == *' glitch '* ]]"
desc="systemd unit is well-formed"
if command -v systemd-analyze >/dev/null; then
  check bash -c "systemd-analyze verify --man=no '$root/lib/systemd/system/mepsim@.service' 2>&1 |
    grep -v 'mepsim: command not found\|Failed to prepare filename\|/usr/bin/mepsim' | grep -qi 'error' && exit 1 || exit 0"
else
  check grep -q '^Type=notify' "$root/lib/systemd/system/mepsim@.service"
fi

# One exchange through a PTY with the installed files only.
prof=$root/usr/share/osgp-mep-emulator/fixtures/meters/nes-3ph.json
port=$((20000 + RANDOM % 20000))
"$bin/mepsim" --pty "$work/meter.pty" --profile "$prof" --control "$work/sim.sock" \
  --exit-after 60 >"$work/mepsim.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -e "$work/meter.pty" ] && break; sleep 0.1; done
mbk=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['keys']['mbk'])" "$prof" 2>/dev/null ||
      echo ABCDEFGHIJKLMNOPQRST)
"$bin/mepmod" --port "$work/meter.pty" --mbk "$mbk" --http-port "$port" --poll-ms 500 \
  --exit-after 60 >"$work/mepmod.log" 2>&1 &
pids+=($!)
desc="installed mepmod reads the installed mepsim over a PTY (HTTP 200 with Fwd_Act_Wh)"
got=""
for _ in $(seq 60); do
  got=$(python3 - "$port" <<'PY' || true
import json, sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/getDashDataWS", timeout=2) as r:
        d = json.load(r)
        print(d["Fwd_Act_Wh"] if r.status == 200 else "")
except (urllib.error.URLError, OSError, ValueError, KeyError):
    pass
PY
)
  [ -n "$got" ] && break
  sleep 0.5
done
check test -n "$got"
[ -n "$got" ] && echo "  Fwd_Act_Wh=$got" || { tail -5 "$work/mepsim.log" "$work/mepmod.log"; }
if [ $fail -ne 0 ]; then echo "package: FAILED"; exit 1; fi
echo "package: all checks passed"
