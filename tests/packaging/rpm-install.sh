# %pyproject_install for tests/packaging/rpm-macros: install the wheel under the build root as
# Fedora's macro does (scripts run /usr/bin/python3; no pip bookkeeping in the dist-info).
set -eu
python=$1 buildroot=$2 prefix=$3 sitelib=$4 wheels=$5
# --ignore-installed: without it pip would first uninstall the hostaudit running the suite.
"$python" -m pip install --quiet --no-deps --no-index --no-compile --no-warn-script-location --ignore-installed \
    --root "$buildroot" --prefix "$prefix" "$wheels"/*.whl
sed -i '1s|^#!.*|#!/usr/bin/python3|' "$buildroot$prefix"/bin/*
for info in "$buildroot$sitelib"/*.dist-info; do
    rm -f "$info/direct_url.json" "$info/INSTALLER" "$info/REQUESTED"
    sed -i '/direct_url.json\|INSTALLER\|REQUESTED/d' "$info/RECORD"
done
