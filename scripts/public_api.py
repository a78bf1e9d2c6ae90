#!/usr/bin/env python3
"""The public surface of each library crate, one name per line, in api/<crate>.txt.

Every lume crate keeps its modules private and re-exports what a user needs from src/lib.rs,
so the names lib.rs makes public are the crate's surface: `pub use` lists (with their module
path), and items declared `pub` in lib.rs itself. Signatures and fields are not listed (on the
stable toolchain rustdoc cannot write them out); a new, renamed or removed name is.

    python3 scripts/public_api.py          # rewrite api/*.txt
    python3 scripts/public_api.py --check  # exit 1 and show the diff when a listing is stale
"""

import difflib
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRATES = ["lume-resources", "lume-data", "lume-metrics", "lume-kernels", "lume-model",
          "lume-unlearn", "lume-bench", "lume-cli"]
ITEM = re.compile(r"^pub (?:async )?(fn|struct|enum|trait|type|const|static|mod|macro)\s+([A-Za-z0-9_]+)")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def use_names(tree, prefix=""):
    """The names a `pub use` tree brings in, as `path::name` (`name as alias` → alias)."""
    tree = tree.strip()
    match = re.match(r"^(.*?)\{(.*)\}$", tree, flags=re.S)
    if match:
        head, body = match.group(1), match.group(2)
        parts, depth, current = [], 0, ""
        for ch in body:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(current)
                current = ""
            else:
                current += ch
        parts.append(current)
        names = []
        for part in parts:
            if part.strip():
                names += use_names(part, prefix + head)
        return names
    path = prefix + tree
    if " as " in path:
        path, alias = path.split(" as ")
        return [f"{path.strip()} as {alias.strip()}"]
    return [path]


def surface(crate):
    lib = ROOT / "crates" / crate / "src" / "lib.rs"
    text = strip_comments(lib.read_text())
    names = []
    for match in re.finditer(r"^pub use (.*?);", text, flags=re.S | re.M):
        names += [f"use {n}" for n in use_names(match.group(1))]
    for line in text.splitlines():
        m = ITEM.match(line)
        if m:
            names.append(f"{m.group(1)} {m.group(2)}")
    return sorted(set(" ".join(n.split()) for n in names))


def main():
    check = "--check" in sys.argv[1:]
    stale = False
    out_dir = ROOT / "api"
    out_dir.mkdir(exist_ok=True)
    for crate in CRATES:
        want = "\n".join(surface(crate)) + "\n"
        path = out_dir / f"{crate}.txt"
        have = path.read_text() if path.exists() else ""
        if have == want:
            continue
        if check:
            stale = True
            sys.stdout.writelines(difflib.unified_diff(
                have.splitlines(True), want.splitlines(True), f"api/{crate}.txt (committed)",
                f"api/{crate}.txt (src/lib.rs)"))
        else:
            path.write_text(want)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("the public surface changed: run python3 scripts/public_api.py and commit api/",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
