#!/usr/bin/env bash
# Installs the build into a temporary prefix and uses it the two ways a C project would: builds
# tests/readme_example.c with `pkg-config --cflags --libs floe` (and statically with --static), and
# with a CMake project that calls find_package(floe), then runs each build. Also checks that the
# installed libfloe.so exports only the floe_* API and does not link libmicrohttpd.
#
# usage: install_test.sh BUILD_DIR SOURCE_DIR LIBDIR C_COMPILER CMAKE PKG_CONFIG [EXTRA_CFLAGS]
# (ctest passes these from CMakeLists.txt; EXTRA_CFLAGS carries sanitizer flags of the build.)
set -euo pipefail
[ $# -ge 6 ] || { echo "usage: $0 BUILD_DIR SOURCE_DIR LIBDIR C_COMPILER CMAKE PKG_CONFIG [EXTRA_CFLAGS]" >&2; exit 2; }
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd) libdir=$3 cc=$4 cmake=$5 pkg_config=$6 extra_cflags=${7:-}

tmp=$(mktemp -d /tmp/floe-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
step() { echo "install_test: $*" >&2; }
fail() { echo "install_test: FAILED: $*" >&2; exit 1; }

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "cmake --install"; }

for f in bin/floe include/floe.h "$libdir/libfloe.a" "$libdir/libfloe.so" "$libdir/pkgconfig/floe.pc" \
  "$libdir/cmake/floe/floeConfig.cmake" "$libdir/cmake/floe/floeConfigVersion.cmake"; do
  [ -e "$prefix/$f" ] || fail "$f was not installed"
done

so=$prefix/$libdir/libfloe.so
others=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^floe_' || true)
[ -z "$others" ] || fail "libfloe.so exports symbols outside the floe_* API: $(tr "\n" " " <<<"$others")"
if readelf -d "$so" | grep -q 'NEEDED.*libmicrohttpd'; then
  fail "libfloe.so links libmicrohttpd (the HTTP server belongs to the floe tool)"
fi

# Every build of the example runs in a data directory of its own.
run_example() { # run_example NAME BINARY
  step "run $1"
  LD_LIBRARY_PATH=$prefix/$libdir "$2" "$tmp/data-$1" >"$tmp/$1.out" 2>&1 ||
    { cat "$tmp/$1.out" >&2; fail "$1 did not run"; }
  grep -q hello "$tmp/$1.out" || { cat "$tmp/$1.out" >&2; fail "$1 did not print the value it stored"; }
}

export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
step "cc tests/readme_example.c \$(pkg-config --cflags --libs floe)"
# shellcheck disable=SC2046,SC2086
"$cc" $extra_cflags "$src/tests/readme_example.c" -o "$tmp/example-pkgconfig" \
  $("$pkg_config" --cflags --libs floe) || fail "building with pkg-config --cflags --libs floe"
run_example pkgconfig "$tmp/example-pkgconfig"

# libfloe.a with the system's shared libraries: floe.pc's Libs.private and the --libs of its
# Requires.private (a full --static walk would want static builds of libcurl's own dependencies).
step "cc tests/readme_example.c libfloe.a and floe.pc's private dependencies"
static_libs=$("$pkg_config" --libs --static --maximum-traverse-depth=1 floe) ||
  fail "pkg-config --libs --static --maximum-traverse-depth=1 floe"
requires=$("$pkg_config" --print-requires-private floe) || fail "pkg-config --print-requires-private floe"
[ -n "$requires" ] || fail "floe.pc has no Requires.private"
# shellcheck disable=SC2086
static_libs="${static_libs//-lfloe/} $("$pkg_config" --libs $requires)" || fail "pkg-config --libs $requires"
# shellcheck disable=SC2046,SC2086
"$cc" $extra_cflags "$src/tests/readme_example.c" -o "$tmp/example-pkgconfig-static" \
  $("$pkg_config" --cflags floe) "$prefix/$libdir/libfloe.a" $static_libs ||
  fail "building against libfloe.a with pkg-config --libs --static floe"
if readelf -d "$tmp/example-pkgconfig-static" | grep -q 'NEEDED.*libfloe'; then
  fail "the static build still needs libfloe.so"
fi
run_example pkgconfig-static "$tmp/example-pkgconfig-static"

step "find_package(floe REQUIRED) in a CMake project"
mkdir -p "$tmp/project"
cat >"$tmp/project/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.18)
project(floe_install_test LANGUAGES C)
find_package(floe 0.1 REQUIRED)
add_executable(example_shared "$src/tests/readme_example.c")
target_link_libraries(example_shared PRIVATE floe::floe)
add_executable(example_static "$src/tests/readme_example.c")
target_link_libraries(example_static PRIVATE floe::floe_static)
CMAKE
unset PKG_CONFIG_PATH
"$cmake" -S "$tmp/project" -B "$tmp/project/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_C_FLAGS="$extra_cflags" >"$tmp/project.log" 2>&1 || { cat "$tmp/project.log" >&2; fail "configuring"; }
"$cmake" --build "$tmp/project/build" >>"$tmp/project.log" 2>&1 || { cat "$tmp/project.log" >&2; fail "building"; }
run_example cmake-shared "$tmp/project/build/example_shared"
run_example cmake-static "$tmp/project/build/example_static"

step "ok"
