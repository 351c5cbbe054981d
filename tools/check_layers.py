#!/usr/bin/env python3
"""The layer rule of src/ (docs/architecture.md): each part includes headers only of the
parts it may use. Run by `make test` (ctest: LayerRule). Exit 0 when every #include
"part/..." in src/ is allowed, 1 with one line per violation (file:line, what it includes
and what that part may use), 2 on bad arguments.

  tools/check_layers.py [SRC_DIR]     check a tree (default: the src/ beside tools/)
  tools/check_layers.py --self-test   check that a violation is found and a clean tree passes
"""
import os
import re
import sys
import tempfile

# What each part may include besides itself. Dependencies flow one way: nothing includes
# cli; serve never uses the trainer (engine) nor the recipe.
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "model": {"core"},
    "loss": {"core"},
    "face": {"core", "data", "model"},
    "engine": {"core", "data", "model", "loss"},
    "retrieval": {"core", "data", "model"},
    "eval": {"core", "data", "retrieval"},
    "mining": {"core", "data", "retrieval"},
    "serve": {"core", "data", "model", "face", "retrieval"},
    "recipe": {"core", "data", "model", "loss", "face", "engine", "retrieval", "eval", "mining", "serve"},
    "cli": {"core", "data", "model", "loss", "face", "engine", "retrieval", "eval", "mining", "serve", "recipe"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z_]+)/')


def violations(src_dir):
    found = []
    for part in sorted(ALLOWED):
        top = os.path.join(src_dir, part)
        for root, _, files in os.walk(top):
            for name in sorted(files):
                if not name.endswith((".h", ".hpp", ".cpp", ".cc")):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        used = m.group(1)
                        if used == part or used not in ALLOWED or used in ALLOWED[part]:
                            continue
                        may = ", ".join(sorted(ALLOWED[part])) or "nothing"
                        found.append(f"{os.path.relpath(path, src_dir)}:{number}: {part} includes {used}/ "
                                     f"({part} may use: {may})")
    return found


def self_test():
    with tempfile.TemporaryDirectory() as d:
        for part in ("core", "serve", "engine"):
            os.makedirs(os.path.join(d, part))
        with open(os.path.join(d, "core", "a.h"), "w") as f:
            f.write("#pragma once\n")
        with open(os.path.join(d, "serve", "b.cpp"), "w") as f:
            f.write('#include "core/a.h"\n#include <vector>\n')
        if violations(d):
            print("self-test: a clean tree was refused")
            return 1
        with open(os.path.join(d, "serve", "c.cpp"), "w") as f:
            f.write('#include "serve/b.h"\n  #include "engine/trainer.h"\n')
        found = violations(d)
        if len(found) != 1 or "serve/c.cpp:2: serve includes engine/" not in found[0]:
            print("self-test: expected one violation in serve/c.cpp:2, got", found)
            return 1
    print("self-test: passed")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) > 2:
        print(__doc__)
        return 2
    src_dir = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    if not os.path.isdir(src_dir):
        print(f"check_layers: {src_dir}: not a folder")
        return 2
    found = violations(src_dir)
    for v in found:
        print(v)
    print(f"layer rule: {len(found)} violation(s) in {src_dir}" if found else "layer rule: kept")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
