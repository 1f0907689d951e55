# %pyproject_save_files PACKAGE for tests/packaging/rpm-macros: the package folder and the
# dist-info, one %files line each.
set -eu
buildroot=$1 sitelib=$2 package=$3
echo "$sitelib/$package/"
cd "$buildroot"
for info in ."$sitelib"/*.dist-info; do
    echo "%dir ${info#.}"
    find "$info" -type f | sort | sed -e 's|^\.||'
done
