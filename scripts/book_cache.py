"""Keep the book's execution cache honest: clear it when what the notebooks import changes.

jupyter-cache re-executes a notebook only when its code cells change. The pages also depend on
the bmcourse package (code, bundled data, shipped weights) and on the pinned dependencies, so
`make book` runs this first: when their fingerprint differs from the one stored beside the cache,
the cache and Sphinx's saved doctrees are removed and every notebook runs again.

Usage: python scripts/book_cache.py BUILD_DIR   (the folder holding .jupyter_cache, e.g. _build)
"""
import hashlib
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
INPUTS = ["bmcourse", "requirements.txt", "pyproject.toml"]


def fingerprint():
    digest = hashlib.sha256()
    for name in INPUTS:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def main(build_dir):
    build = (ROOT / build_dir) if not pathlib.Path(build_dir).is_absolute() else pathlib.Path(build_dir)
    stamp = build / ".jupyter_cache.key"
    key = fingerprint()
    if stamp.exists() and stamp.read_text().strip() == key:
        return
    if (build / ".jupyter_cache").exists() or (build / ".doctrees").exists():
        print(f"book cache: {', '.join(INPUTS)} changed; executing every notebook again")
    shutil.rmtree(build / ".jupyter_cache", ignore_errors=True)
    shutil.rmtree(build / ".doctrees", ignore_errors=True)
    build.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "_build")
