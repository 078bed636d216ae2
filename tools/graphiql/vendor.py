"""Copies the GraphiQL page's assets from the pinned npm packages into the portal package.

    cd tools/graphiql && npm ci && cd ../.. && .venv/bin/python tools/graphiql/vendor.py
    (or: make graphiql-assets)

The files are committed under portal/web/static/graphiql/vendor/, so the server never loads
anything from a CDN. Next to them it writes `manifest.json` (package, version, file, SHA-384 for
the `integrity` attributes; tests/api/test_graphiql_assets.py checks the files against it) and
`THIRD-PARTY-LICENSES.txt`: the licence of every npm package whose code is in those files,
including the ones webpack bundled into graphiql.min.js.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
TARGET = HERE.parents[1] / "portal" / "web" / "static" / "graphiql" / "vendor"

# (package, file inside the package) in the order the page loads them.
ASSETS = [
    ("react", "umd/react.production.min.js"),
    ("react-dom", "umd/react-dom.production.min.js"),
    ("graphiql", "graphiql.min.js"),
    ("graphiql", "graphiql.min.css"),
]
# react-dom's UMD build inlines scheduler.
INLINED = {"react-dom": ["scheduler"]}
BUNDLED_MODULE = re.compile(r"\*\*\* \.\./\.\./\.\./node_modules/((?:@[^/]+/)?[^/]+)/")
LICENCE_FILE = re.compile(r"^licen[cs]e(\.md|\.txt)?$", re.IGNORECASE)
MIT_TEXT = """Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def package_dir(name: str) -> Path:
    found = sorted(NODE_MODULES.glob(f"**/node_modules/{name}/package.json"))
    direct = NODE_MODULES / name / "package.json"
    path = direct if direct.exists() else (found[0] if found else None)
    if path is None:
        sys.exit(f"{name} is bundled but not installed: add it to tools/graphiql/package.json")
    return path.parent


def manifest_of(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((package_dir(name) / "package.json").read_text())
    return data


def licence_text(name: str) -> str:
    directory = package_dir(name)
    files = sorted(p for p in directory.iterdir() if LICENCE_FILE.match(p.name))
    if files:
        return files[0].read_text(encoding="utf-8").strip() + "\n"
    meta = manifest_of(name)
    if meta.get("license") != "MIT":
        sys.exit(f"{name} ships no licence file and is not declared MIT: check it by hand")
    author = meta.get("author")
    holder = author.get("name") if isinstance(author, dict) else author
    return (
        f'(The package declares "license": "MIT" and ships no licence file; the MIT licence '
        f"text follows.)\n\nCopyright (c) {holder or 'the ' + name + ' authors'}\n\n{MIT_TEXT}"
    )


def integrity(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def main() -> None:
    if TARGET.exists():
        shutil.rmtree(TARGET)
    TARGET.mkdir(parents=True)
    files = []
    packages: set[str] = set()
    for package, inner in ASSETS:
        version = manifest_of(package)["version"]
        directory = TARGET / f"{package}-{version}"
        directory.mkdir(exist_ok=True)
        source = package_dir(package) / inner
        target = directory / Path(inner).name
        shutil.copyfile(source, target)
        files.append(
            {
                "package": package,
                "version": version,
                "source": f"{package}/{inner}",
                "path": target.relative_to(TARGET.parent).as_posix(),
                "integrity": integrity(target),
            }
        )
        packages.add(package)
        packages.update(INLINED.get(package, []))
        if inner.endswith(".js"):
            packages.update(BUNDLED_MODULE.findall(source.read_text(encoding="utf-8")))
    sections = []
    for name in sorted(packages):
        meta = manifest_of(name)
        sections.append(
            f"{'=' * 78}\n{name} {meta['version']} ({meta.get('license')})\n{'=' * 78}\n\n"
            + licence_text(name)
        )
    (TARGET / "THIRD-PARTY-LICENSES.txt").write_text(
        "Licences of the npm packages whose code is in the files of this directory\n"
        "(graphiql.min.js bundles the packages webpack found under node_modules; react-dom's UMD\n"
        "build inlines scheduler). Sources: the npm packages pinned in tools/graphiql/.\n\n"
        + "\n".join(sections),
        encoding="utf-8",
    )
    (TARGET / "manifest.json").write_text(
        json.dumps({"files": files, "licensed_packages": sorted(packages)}, indent=2) + "\n"
    )
    print(f"{len(files)} files, {len(packages)} licences -> {TARGET}")


if __name__ == "__main__":
    main()
