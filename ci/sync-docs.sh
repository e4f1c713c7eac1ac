#!/usr/bin/env bash
# Copy the protocol references into docs/ from their source, the project's protocol digests
# kept beside this repository in ../shared/spec/ (mep.md, optical.md, module-behaviour.md).
# The copies differ from the source in one way only: paths to the spec vectors point at
# fixtures/vectors/, where the repository keeps them (byte-identical to shared/spec/vectors/).
#
#   ci/sync-docs.sh          rewrite docs/ from the source
#   ci/sync-docs.sh --check  exit 1 and name the files that differ (nothing is written)
# Without ../shared/spec (e.g. a clone on its own) there is nothing to compare: exit 0, say so.
set -euo pipefail
cd "$(dirname "$0")/.."
src=../shared/spec
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "sync-docs: unknown option '$1' (use --check or nothing)" >&2; exit 2 ;;
esac
if [ ! -d "$src" ]; then
  echo "sync-docs: no $src beside this repository; docs/ left as it is"
  exit 0
fi
rewrite() { sed -e 's#`vectors/#`../fixtures/vectors/#g' "$1"; }
rc=0
for f in mep.md optical.md module-behaviour.md; do
  if [ "$check" = 1 ]; then
    if ! rewrite "$src/$f" | cmp -s - "docs/$f"; then
      echo "sync-docs: docs/$f differs from $src/$f (run ci/sync-docs.sh)"; rc=1
    fi
  else
    rewrite "$src/$f" > "docs/$f"
  fi
done
for v in "$src"/vectors/*.json; do
  if ! cmp -s "$v" "fixtures/vectors/$(basename "$v")"; then
    if [ "$check" = 1 ]; then
      echo "sync-docs: fixtures/vectors/$(basename "$v") differs from $v"; rc=1
    else
      cp "$v" fixtures/vectors/
    fi
  fi
done
[ "$check" = 1 ] && [ $rc = 0 ] && echo "sync-docs: docs/ and fixtures/vectors/ match $src"
exit $rc
