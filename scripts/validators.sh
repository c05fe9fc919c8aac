#!/usr/bin/env bash
# The Python validators of the export tests: compliance-trestle (NIST's OSCAL models) and
# xmlschema (XML Schema 1.0), in a virtual environment of their own.
#
# The export tests (crates/testkit/src/validators.rs) run scripts/validators/validate.py
# with the environment's Python to check junit.xml against our XSD
# (scripts/validators/junit.xsd) and oscal-assessment-results.json against trestle's
# assessment-results model. This script only makes sure the environment exists.
#
# Usage:
#   scripts/validators.sh ensure   # create the venv and install the pinned packages when
#                                  # missing, then print their versions
#   scripts/validators.sh check    # exit 0 when the venv has both, 1 otherwise; installs
#                                  # nothing
#   scripts/validators.sh python   # print the venv's python (for the tests and by hand)
#
# The venv is $CIS_COMPLIANCE_VENV, else ${XDG_CACHE_HOME:-~/.cache}/cis-compliance/venv.
# When it cannot be made (no python3 with venv, no package index), `ensure` prints one
# line saying why and exits non-zero; `make test` only warns then, and the export
# validation tests print SKIPPED and pass.
set -Eeuo pipefail

prog=$(basename "$0")
# compliance-trestle 3.12 is the last series whose models are OSCAL 1.1 (1.1.3); 4.0 moved
# to OSCAL 1.2. The exports follow 1.1.
PACKAGES=(compliance-trestle==3.12.4 xmlschema==4.3.2)

venv_dir() { echo "${CIS_COMPLIANCE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/cis-compliance/venv}"; }
venv_python() { echo "$(venv_dir)/bin/python"; }

die() { # REASON
  echo "$prog: cannot install the export validators: $*" >&2
  exit 1
}

usage() {
  echo "usage: $prog ensure|check|python" >&2
  exit 2
}

# Whether the venv's python imports both at the pinned versions.
installed() {
  local py
  py=$(venv_python)
  [[ -x $py ]] || return 1
  "$py" - "${PACKAGES[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name) != want:
        sys.exit(1)
import trestle.oscal.assessment_results, xmlschema  # noqa: E401,F401
PY
}

print_versions() {
  "$(venv_python)" - <<'PY' >&2
from importlib.metadata import version
import trestle.oscal
print(f"validators.sh: compliance-trestle {version('compliance-trestle')} (OSCAL {trestle.oscal.OSCAL_VERSION}), xmlschema {version('xmlschema')}")
PY
}

ensure() {
  if installed; then
    print_versions
    return 0
  fi
  local dir
  dir=$(venv_dir)
  command -v python3 >/dev/null || die "no python3"
  if [[ ! -x $dir/bin/python ]]; then
    mkdir -p "$(dirname "$dir")"
    python3 -m venv "$dir" 2>/dev/null || {
      # Debian's python3 leaves venv (ensurepip) to a package of its own.
      if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
        local v
        v=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        DEBIAN_FRONTEND=noninteractive apt-get -qq install -y "python$v-venv" >/dev/null 2>&1 ||
          DEBIAN_FRONTEND=noninteractive apt-get -qq install -y python3-venv >/dev/null 2>&1 ||
          die "python3 has no venv module and python3-venv could not be installed"
        rm -rf "$dir"
        python3 -m venv "$dir" || die "python3 -m venv $dir failed"
      else
        die "python3 -m venv $dir failed (is python3-venv installed?)"
      fi
    }
  fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" ||
    die "pip could not install ${PACKAGES[*]}"
  installed || die "installed, but the packages do not import"
  print_versions
}

case "${1:-}" in
  ensure) ensure ;;
  check)
    if installed; then exit 0; fi
    echo "$prog: the export validators are not installed in $(venv_dir); run $0 ensure" >&2
    exit 1
    ;;
  python) venv_python ;;
  *) usage ;;
esac
