#!/bin/sh
# Install libsettee (component "libsettee" only) into a scratch prefix, then
# build and run a tiny app against it the way an outside project would:
#   1. cc hello.c $(pkg-config --cflags --libs settee)         (shared)
#   2. cc hello.c $(pkg-config --static --cflags --libs settee) with libsettee.a
#   3. cmake with find_package(settee): settee::settee and settee::settee_static
# The shared builds also query a view: the component's settee-js is found
# beside libsettee.so, with SETTEE_JS unset.
# usage: outside_tree.sh BUILD_DIR SCRATCH_DIR SRC_DIR CC CMAKE "EXTRA_CFLAGS"
set -eu
unset SETTEE_JS
build=$1 scratch=$2 src=$3 cc=$4 cmake=$5 extra=${6:-}
rm -rf "$scratch"
mkdir -p "$scratch"
prefix="$scratch/prefix"
"$cmake" --install "$build" --prefix "$prefix" --component libsettee >/dev/null
libdir=$(cd "$(dirname "$(find "$prefix" -name settee.pc | head -n 1)")/.." && pwd)
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists settee
echo "pkg-config: $(pkg-config --cflags --libs settee)"

# 1. shared, through pkg-config
# shellcheck disable=SC2046,SC2086
"$cc" $extra -o "$scratch/hello" "$src/hello.c" $(pkg-config --cflags --libs settee)
LD_LIBRARY_PATH="$libdir" "$scratch/hello" "$scratch/one.settee" view

# 2. static, through pkg-config --static
# shellcheck disable=SC2046,SC2086
"$cc" $extra -o "$scratch/hello_static" "$src/hello.c" $(pkg-config --cflags settee) \
    "$libdir/libsettee.a" $(pkg-config --static --libs settee | sed 's/-lsettee//; s/-L[^ ]*//')
"$scratch/hello_static" "$scratch/two.settee"

# 3. CMake package
CFLAGS="$extra" LDFLAGS="$extra" "$cmake" -S "$src" -B "$scratch/cm" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" >/dev/null
"$cmake" --build "$scratch/cm" >/dev/null
LD_LIBRARY_PATH="$libdir" "$scratch/cm/hello_shared" "$scratch/three.settee" view
"$scratch/cm/hello_static" "$scratch/four.settee"
echo "outside-tree builds OK"
