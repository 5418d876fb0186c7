"""Print _config.yml with notebook execution switched, for `make book-check`.

The test target executes every notebook with nbmake already; its book build only has to check
the markup, so it reuses _config.yml with execution off rather than keeping a second copy.
The printed file is read from another folder (_build/), so local-extension paths become absolute.
"""
import argparse
import pathlib
import sys

import yaml

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--execute", default="off", choices=["off", "force", "cache", "auto"])
args = parser.parse_args()

root = pathlib.Path(__file__).resolve().parent.parent
config = yaml.safe_load((root / "_config.yml").read_text())
config.setdefault("execute", {})["execute_notebooks"] = args.execute
local = config.get("sphinx", {}).get("local_extensions") or {}
for name, path in local.items():
    local[name] = str((root / path).resolve())
yaml.safe_dump(config, sys.stdout, sort_keys=False, allow_unicode=True)
