"""Build the offline HTML template for ``dvc plots show`` / ``dvc plots diff``.

DVC's default page loads vega, vega-lite and vega-embed from cdn.jsdelivr.net, so without a
network every chart is blank. This writes ``.dvc/plots/offline/index.html`` with the three
libraries inlined, at the versions dvc-render 1.0.2's default page references (its
``VegaRenderer.SCRIPTS``), and each library's LICENSE beside it. ``.dvc/config`` points
``plots.html_template`` at it (DVC resolves a relative path there against ``.dvc/``).

Each package is the registry's tarball, checked against the ``dist.integrity`` (sha512) pinned
below before anything is read from it. The script inlined is the file the CDN URL serves: the
package.json ``jsdelivr`` field (``build/<name>.min.js``), less its last line, the
``//# sourceMappingURL`` comment (the map is not shipped). Nothing depends on the time or the
machine, so two runs write the same bytes. Run from anywhere, standard library only::

    python scripts/build_plots_template.py            # (re)write the template and licences
    python scripts/build_plots_template.py --check    # exit 1 if the committed files differ
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = REPO_ROOT / ".dvc" / "plots" / "offline"
TEMPLATE_NAME = "index.html"

# (package, version, dist.integrity) as https://registry.npmjs.org/<package>/<version> gives
# them; the versions are those of dvc-render 1.0.2's CDN <script> tags, in their order (vega-lite
# needs vega, vega-embed needs both).
PACKAGES = (
    (
        "vega",
        "5.20.2",
        "sha512-qmH7aD9GGPpssVdxL1xgcdxTbQzyRUeRR16Os385ymvQhiwCYQNA6+eXUPAZDTVLfk0RXu6Jzj6kUE5jQ80EVw==",
    ),
    (
        "vega-lite",
        "5.2.0",
        "sha512-Yxcg8MvYfxHcG6BbkaKT0oVCIMIcE19UvqIsEwBmyd/7h2nzW7oRnID81T8UrY7hpDrIr6wa2JADOT2dhGNErw==",
    ),
    (
        "vega-embed",
        "6.18.2",
        "sha512-wcDyQPE4J5aiCDc3/suH5RQDvrKkjuLkhzUcbOLwEkNF8/+pp17tS0JghzEvAPNRg+5aG1/N2ydixq8Lk3dOlg==",
    ),
)
REGISTRY = "https://registry.npmjs.org"

# DVC fills the template with str.replace on these, anywhere in the file; "scripts" would also
# bring back the CDN <script> tags. An inlined library must contain none of them.
DVC_PLACEHOLDERS = ("{scripts}", "{plot_divs}", "{refresh_tag}")
SOURCE_MAP_LINE = re.compile(rb"\n//# sourceMappingURL=[^\n]*\n?\Z")


def tarball_url(name: str, version: str) -> str:
    return f"{REGISTRY}/{name}/-/{name}-{version}.tgz"


def licence_name(name: str) -> str:
    return f"LICENSE-{name}"


def download(url: str, integrity: str) -> bytes:
    algo, _, expected = integrity.partition("-")
    if algo != "sha512":
        raise SystemExit(f"{url}: pinned integrity must be sha512, got {algo!r}")
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (fixed https URL)
        data = response.read()
    got = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if got != expected:
        raise SystemExit(
            f"{url}: integrity mismatch\n  expected sha512-{expected}\n  got      sha512-{got}"
        )
    return data


def unpack(name: str, version: str, tgz: bytes) -> tuple[bytes, bytes]:
    """The minified browser build (as the CDN serves it) and the LICENSE of one tarball."""
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:

        def member(path: str) -> bytes:
            f = tar.extractfile(f"package/{path}")
            if f is None:
                raise SystemExit(f"{name}@{version}: package/{path} is not a file")
            return f.read()

        manifest = json.loads(member("package.json"))
        if (manifest.get("name"), manifest.get("version")) != (name, version):
            raise SystemExit(
                f"{name}@{version}: tarball holds {manifest.get('name')}@{manifest.get('version')}"
            )
        build_path = manifest.get("jsdelivr")
        if build_path != f"build/{name}.min.js":
            raise SystemExit(f"{name}@{version}: unexpected jsdelivr entry {build_path!r}")
        script = member(build_path)
        licence = member("LICENSE")
    script = SOURCE_MAP_LINE.sub(b"\n", script)
    text = script.decode("utf-8")
    # Inside <script>...</script> the HTML parser ends the element at "</script" and treats
    # "<!--" specially; a library containing either cannot be inlined verbatim.
    for bad in ("</script", "<!--", *DVC_PLACEHOLDERS):
        if bad in text.lower():
            raise SystemExit(f"{name}@{version}: {build_path} contains {bad!r}; cannot inline it")
    if f'"{version}"' not in text:
        raise SystemExit(f"{name}@{version}: {build_path} does not carry its version string")
    return script, licence


PAGE_HEAD = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!--
    Offline page for `dvc plots show` / `dvc plots diff`, written by
    scripts/build_plots_template.py (do not edit by hand). vega, vega-lite and vega-embed are
    inlined, so nothing is fetched; their licences are the LICENSE-* files beside this one.
    DVC's renderer-scripts placeholder is left out on purpose: it holds the CDN <script> tags.
__PACKAGE_LINES__    -->
    <style>
        table {
            border-spacing: 15px;
        }
        .dvc-offline-warning {
            border: 2px solid #b00020;
            color: #b00020;
            padding: 0.5em 1em;
            font-family: sans-serif;
        }
    </style>
"""

# After the libraries, before any chart: a chart whose vegaEmbed promise rejects shows why.
EMBED_GUARD = """<script>
(function () {
    if (typeof window.vegaEmbed !== "function") {
        return;
    }
    var embed = window.vegaEmbed;
    var guarded = function (el, spec, opts) {
        var result = embed(el, spec, opts);
        result.catch(function (err) {
            var target = typeof el === "string" ? document.querySelector(el) : el;
            if (target) {
                var note = document.createElement("p");
                note.className = "dvc-offline-warning";
                note.textContent = "This chart failed to render: " + err;
                target.appendChild(note);
            }
        });
        return result;
    };
    for (var key in embed) {
        guarded[key] = embed[key];
    }
    window.vegaEmbed = guarded;
})();
</script>
"""

PAGE_BODY = """</head>
<body>
    <noscript>
        <p class="dvc-offline-warning">JavaScript is off: the vega charts on this page cannot
        be drawn (the images still show).</p>
    </noscript>
    {plot_divs}
    <script>
    (function () {
        var missing = ["vega", "vegaLite", "vegaEmbed"].filter(function (name) {
            return typeof window[name] === "undefined";
        });
        if (missing.length) {
            var note = document.createElement("p");
            note.className = "dvc-offline-warning";
            note.textContent = "The inlined chart libraries did not load (missing: "
                + missing.join(", ") + "), so the vega charts cannot be drawn. "
                + "Regenerate this page's template with scripts/build_plots_template.py.";
            document.body.insertBefore(note, document.body.firstChild);
        }
    })();
    </script>
</body>
</html>
"""


def render(libraries: list[tuple[str, str, str, bytes]]) -> bytes:
    """The template: head, the inlined libraries in dependency order, the guard, the body."""
    package_lines = "".join(
        f"      {name}@{version}  {tarball_url(name, version)}\n        {integrity}\n"
        for name, version, integrity, _ in libraries
    )
    parts = [PAGE_HEAD.replace("__PACKAGE_LINES__", package_lines).encode("utf-8")]
    for name, version, _, script in libraries:
        parts.append(f'<script data-package="{name}@{version}">\n'.encode())
        parts.append(script if script.endswith(b"\n") else script + b"\n")
        parts.append(b"</script>\n")
    parts.append(EMBED_GUARD.encode("utf-8"))
    parts.append(PAGE_BODY.encode("utf-8"))
    page = b"".join(parts)
    text = page.decode("utf-8")
    if text.count("{plot_divs}") != 1 or "{scripts}" in text:
        raise SystemExit("template must hold {plot_divs} once and no {scripts}")
    return page


def build() -> dict[str, bytes]:
    """File name -> bytes, for every file of the output folder."""
    files: dict[str, bytes] = {}
    libraries = []
    for name, version, integrity in PACKAGES:
        url = tarball_url(name, version)
        print(f"fetch {url}", file=sys.stderr)
        script, licence = unpack(name, version, download(url, integrity))
        libraries.append((name, version, integrity, script))
        files[licence_name(name)] = licence
    files[TEMPLATE_NAME] = render(libraries)
    return files


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="default: %(default)s")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the files differ"
    )
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [
            name
            for name, data in files.items()
            if not (args.out_dir / name).is_file() or (args.out_dir / name).read_bytes() != data
        ]
        for name in stale:
            print(f"{args.out_dir / name}: differs from a fresh build", file=sys.stderr)
        if not stale:
            print(f"{args.out_dir}: up to date", file=sys.stderr)
        return 1 if stale else 0
    for name, data in files.items():
        write_atomic(args.out_dir / name, data)
        print(f"wrote {args.out_dir / name} ({len(data)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
