#!/usr/bin/env python3
"""Prints the cache key of one clang-tidy run (used by scripts/tidy.sh).

    scripts/tidy_key.py BUILD_DIR ROOT FILE TIDY_VERSION_AND_CONFIG_HASH

The key is a SHA-256 over everything a clang-tidy result depends on:
  - the clang-tidy version and .clang-tidy configuration (passed in, hashed once by tidy.sh),
  - the translation unit's compile command from BUILD_DIR/compile_commands.json,
  - the preprocessed translation unit (the compiler's -E output with line markers, so the
    content and the path of every included header count),
  - the raw text of every file of the checkout it includes: comments (NOLINT) and macro
    spelling change findings but not the preprocessed text. Outside the checkout only findings
    in our own files are reported, so system headers count through the preprocessed text.
The checkout's absolute path (ROOT) is replaced by a placeholder in the command and in the
preprocessed text, so clean clones in other directories (CI) share the cache. Exit status 2
when FILE is not in the database or the preprocessor fails (tidy.sh then runs clang-tidy
without the cache).
"""
import hashlib
import json
import os
import shlex
import re
import subprocess
import sys

# GCC's line markers: `# 12 "/path/to/file.h" 2`.
LINE_MARKER = re.compile(rb'^# \d+ "([^"]+)"', re.MULTILINE)


def main() -> int:
    if len(sys.argv) != 5:
        print("usage: tidy_key.py BUILD_DIR ROOT FILE TOOL_HASH", file=sys.stderr)
        return 2
    build_dir, root, rel_file, tool_hash = sys.argv[1:]
    root = os.path.realpath(root)
    target = os.path.join(root, rel_file)
    with open(os.path.join(build_dir, "compile_commands.json"), encoding="utf-8") as f:
        entries = json.load(f)
    entry = next((e for e in entries if e["file"] == target), None)
    if entry is None:
        print(f"tidy_key: {rel_file} is not in {build_dir}/compile_commands.json", file=sys.stderr)
        return 2
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    # The preprocessor run: the same command with "-o OUT" dropped and "-c" replaced by "-E".
    pp = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a.startswith("-o") and len(a) > 2:
            continue
        pp.append("-E" if a == "-c" else a)
    if "-E" not in pp:
        pp.append("-E")
    digest = hashlib.sha256()
    root_b = root.encode()
    digest.update(tool_hash.encode() + b"\0")
    digest.update(" ".join(args).replace(root, "<root>").encode() + b"\0")
    proc = subprocess.run(pp, cwd=entry["directory"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        print(f"tidy_key: preprocessing {rel_file} failed", file=sys.stderr)
        return 2
    digest.update(proc.stdout.replace(root_b, b"<root>"))
    # The checkout's own files also count as written: their comments (NOLINT) and macro
    # spelling change findings without changing the preprocessed text.
    own = sorted({m.group(1) for m in LINE_MARKER.finditer(proc.stdout)
                  if m.group(1).startswith(root_b + b"/")})
    for path in own:
        try:
            with open(path, "rb") as f:
                content = f.read()
        except OSError:
            continue
        digest.update(b"\0" + path.replace(root_b, b"<root>") + b"\0" + content)
    print(digest.hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
