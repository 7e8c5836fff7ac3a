#!/usr/bin/env bash
# Checks that every local file operation of the library goes through src/file.h's environment: no
# src/**/*.c other than src/file.c may call open, write, fsync, rename, unlink, mmap and the other
# raw system calls file.h wraps (or their *at and vectored variants, which file.h has not), so a
# test environment sees every change the library makes to local files. Comments and string
# literals are skipped, and so are member calls (ops->close(c), env.write(...)). src/tools/ and
# src/cli/ are programs of their own, not the library, and are not checked.
#
# usage: file_layer_test.sh SOURCE_DIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 SOURCE_DIR" >&2; exit 2; }
src=$1

# Calls a file may make although they are on the list, one "path call" a line, with why. Keep it
# short: an entry is a promise that none of these calls touches a local file.
#   src/server/http.c close: the listening socket and the one MHD hands back when it quiesces are
#   sockets; http.c opens no local file.
allowed='src/server/http.c close'

calls='open openat creat close write pwrite writev pwritev read pread readv preadv fsync fdatasync
fallocate posix_fallocate ftruncate truncate rename renameat link linkat unlink unlinkat mkdir mkdirat
rmdir mmap munmap'

# Prints "path:line: name(" for every raw call in the files given (paths as given).
scan() {
  awk -v calls="$calls" -v allowed="$allowed" '
    BEGIN {
      n = split(calls, c, /[ \n]+/)
      for (i = 1; i <= n; i++) if (c[i] != "") raw[c[i]] = 1
      n = split(allowed, a, /\n/)
      for (i = 1; i <= n; i++) if (a[i] != "") { split(a[i], f, / +/); ok[f[1] " " f[2]] = 1 }
    }
    FNR == 1 { in_comment = 0 }
    {
      # The line with comments and string and character literals blanked, columns kept.
      line = $0; code = ""; i = 1; len = length(line)
      while (i <= len) {
        ch = substr(line, i, 1); two = substr(line, i, 2)
        if (in_comment) {
          if (two == "*/") { in_comment = 0; code = code "  "; i += 2 } else { code = code " "; i++ }
          continue
        }
        if (two == "/*") { in_comment = 1; code = code "  "; i += 2; continue }
        if (two == "//") break
        if (ch == "\"" || ch == "\047") {
          quote = ch; code = code " "; i++
          while (i <= len) {
            ch = substr(line, i, 1)
            if (ch == "\\") { code = code "  "; i += 2; continue }
            code = code " "; i++
            if (ch == quote) break
          }
          continue
        }
        code = code ch; i++
      }
      # Each identifier followed by "(": a call (or a declaration) of that name.
      rest = code; done = 0
      while (match(rest, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
        name = substr(rest, RSTART, RLENGTH); sub(/[ \t]*\($/, "", name)
        before = substr(code, 1, done + RSTART - 1); sub(/[ \t]+$/, "", before)
        if ((name in raw) && before !~ /(->|\.)$/ && !((FILENAME " " name) in ok))
          printf "%s:%d: %s(\n", FILENAME, FNR, name
        done += RSTART + RLENGTH - 1; rest = substr(rest, RSTART + RLENGTH)
      }
    }' "$@"
}

tmp=$(mktemp -d /tmp/floe-file-layer-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The scanner itself: it must find the calls marked here and nothing else, or it proves nothing.
mkdir -p "$tmp/src"
cat >"$tmp/src/sample.c" <<'EOF'
int a(void) { return open(p, O_RDONLY); }          /* line 1: found */
/* write(fd, b, n); in a comment: skipped
   fsync(fd) still inside it: skipped */
int b(void) { return file_write(fd, "close(x)", 1) + ops->close(c) + env.read(0); }
int c(void) { (void)close (fd); return '"' == *s && x->y.unlink(p); } // mmap(
int d(void) { return fdatasync(fd) /* rename( */ + opendir(p) + fopen(p, "r") + closedir(d); }
EOF
want=$'src/sample.c:1: open(\nsrc/sample.c:5: close(\nsrc/sample.c:6: fdatasync('
got=$(cd "$tmp" && scan src/sample.c)
if [ "$got" != "$want" ]; then
  echo "file_layer_test: FAILED: the scanner is broken: on its sample it found" >&2
  echo "$got" >&2
  echo "instead of" >&2
  echo "$want" >&2
  exit 1
fi

files=()
while IFS= read -r f; do
  files+=("$f")
done < <(cd "$src" && find src -name '*.c' ! -path 'src/file.c' ! -path 'src/tools/*' ! -path 'src/cli/*' | sort)
[ ${#files[@]} -gt 0 ] || { echo "file_layer_test: FAILED: no sources under $src/src" >&2; exit 1; }

found=$(cd "$src" && scan "${files[@]}")
if [ -n "$found" ]; then
  echo "file_layer_test: FAILED: raw file system calls outside src/file.c; call the file_* wrapper" >&2
  echo "of src/file.h instead (file_open, file_close, file_write_all, ...), so tests can fail them:" >&2
  echo "$found" >&2
  exit 1
fi
echo "file_layer_test: ok (${#files[@]} files)"
