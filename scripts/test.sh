#!/usr/bin/env bash
# Builds floe and runs every test: the README's test command and what CI runs.
#   1. installs the Debian packages (scripts/install-deps.sh),
#   2. starts a throwaway Ceph RGW on 127.0.0.1 for the S3 integration tests,
#   3. builds with -Werror and runs the whole suite through ctest,
#   4. builds again with -fsanitize=address,undefined and runs the suite again,
#   5. builds with -fsanitize=thread and runs the concurrency tests (label "tsan"),
#   6. builds the libFuzzer targets with clang and runs each for 20 s (scripts/fuzz.sh 20).
# Environment: FLOE_LONG_TESTS=1 runs the long variants; FLOE_SKIP_SANITIZERS=1 skips steps 4-5;
# FLOE_SKIP_FUZZ=1 skips step 6;
# FLOE_TEST_JOBS sets ctest parallelism (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${FLOE_TEST_JOBS:-$(nproc)}

scripts/install-deps.sh

RGW_DIR=$(mktemp -d /tmp/floe-test-rgw.XXXXXX)
RGW_PORT=${FLOE_TEST_RGW_PORT:-7480}
cleanup() { scripts/s3-test-server.sh stop "$RGW_DIR" || true; }
trap cleanup EXIT
if out=$(scripts/s3-test-server.sh start "$RGW_DIR" "$RGW_PORT"); then
  export FLOE_TEST_S3_ENDPOINT=${out#RGW_READY }
  export FLOE_TEST_S3_ACCESS_KEY=floeacc FLOE_TEST_S3_SECRET_KEY=floesecret123
  echo "test.sh: S3 test server at $FLOE_TEST_S3_ENDPOINT" >&2
else
  echo "test.sh: could not start the S3 test server; S3 integration tests will fail" >&2
fi

build_and_test() { # build_and_test DIR CTEST_ARGS... -- CMAKE_ARGS...
  local dir=$1; shift
  local ctest_args=()
  while [ "$1" != "--" ]; do ctest_args+=("$1"); shift; done
  shift
  cmake -S "$ROOT" -B "$dir" -DFLOE_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
  (cd "$dir" && ctest --output-on-failure -j "$JOBS" "${ctest_args[@]}")
}

echo "== build and test (-Werror)" >&2
build_and_test build/ci -- -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${FLOE_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== build and test under AddressSanitizer + UndefinedBehaviorSanitizer" >&2
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build_and_test build/asan -- -DCMAKE_BUILD_TYPE=Debug -DFLOE_ASAN=ON
  echo "== concurrency tests under ThreadSanitizer" >&2
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    build_and_test build/tsan -L tsan -- -DCMAKE_BUILD_TYPE=Debug -DFLOE_TSAN=ON
fi
if [ "${FLOE_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz every parser of outside bytes for 20 s each" >&2
  scripts/fuzz.sh 20
fi
echo "test.sh: all tests passed" >&2
