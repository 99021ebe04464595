#!/usr/bin/env bash
# Re-makes the netlists of tests/ngspice.rs and ngspice's reference outputs beside them.
#
#   crates/crossbar/tests/data/regen.sh
#
# 1. XBAR_BLESS=1 makes the test write every case's netlist (<case>.cir) from the current code;
#    its live comparisons with ngspice still run.
# 2. ngspice -b runs every netlist; its standard output is the reference (<case>.out) that the
#    test also checks when ngspice is not installed.
# 3. The ngspice version used is written into README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
command -v ngspice >/dev/null || { echo "ngspice not found (Debian: apt-get install -y ngspice)" >&2; exit 1; }

(cd "$root" && XBAR_BLESS=1 XBAR_REQUIRE_NGSPICE=1 cargo test -p xbar-crossbar --test ngspice)

err="$(mktemp)"
trap 'rm -f "$err"' EXIT
for cir in "$here"/*.cir; do
    out="${cir%.cir}.out"
    # ngspice writes progress to stderr; show it only when the run fails.
    if ! ngspice -b "$cir" > "$out" 2> "$err"; then
        cat "$err" >&2
        echo "ngspice failed on $cir" >&2
        exit 1
    fi
    echo "$(basename "$out")"
done

version="$(ngspice -v | sed -n 's/^\** *\(ngspice-[0-9][^ ]*\).*/\1/p' | head -n 1)"
package="$(dpkg-query -W -f='${Version}' ngspice 2>/dev/null || echo unknown)"
sed -i "s/^Reference outputs made with .*/Reference outputs made with ${version} (Debian package ${package})./" "$here/README.md"
echo "reference outputs made with ${version} (${package})"
