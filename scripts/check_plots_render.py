"""Offline render check for the DVC plots page: every vega chart draws, every image loads.

Runs ``dvc plots show -o <temporary folder>`` from the repository root (or takes an existing
``index.html`` with ``--html``), copies the page with a probe script added at the top of its
<head>, and loads the copy in headless Chromium with the network unreachable: every host name
fails to resolve and every request goes to a dead proxy (127.0.0.1:9, loopback included). A
page that needs the CDN therefore draws nothing, which is the failure this check is for.

The probe waits (Chromium's virtual time, so it costs little wall time) until each chart has
drawn or the wait is over, then writes its findings into the DOM; ``--dump-dom`` hands them
back. A chart drew when its canvas has a pixel that differs from the canvas's top-left pixel
(the background), or, with the svg renderer, when its svg holds mark items. An image loaded
when ``naturalWidth > 0``. One line per chart and image; exit 0 only if all drew and loaded,
1 otherwise, 2 when the check itself could not run (no Chromium, dvc failed, ...)::

    python scripts/check_plots_render.py                    # dvc plots show, then check
    python scripts/check_plots_render.py --html dvc_plots/index.html
    python scripts/check_plots_render.py --html-template PATH   # passed to dvc plots show
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VERDICT_ID = "plot-render-check-verdict"
# DVC's VegaRenderer.DIV: each chart is <div id="X"><script> ... vegaEmbed('#X', spec);
CHART_CALL = re.compile(r"vegaEmbed\('#([^']+)', spec\)")
HEAD_TAG = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No network: names never resolve, and anything else goes to a port nothing listens on.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)

PROBE = """<script>
(function () {
    var CHART_IDS = __CHART_IDS__;
    var WAIT_MS = __WAIT_MS__;
    var errors = [];
    window.addEventListener("error", function (event) {
        var target = event.target;
        if (target && target !== window && (target.src || target.href)) {
            errors.push("failed to load " + (target.src || target.href));
        } else {
            errors.push(String(event.message || event.error));
        }
    }, true);
    window.addEventListener("unhandledrejection", function (event) {
        var reason = event.reason;
        errors.push("unhandled rejection: " + String((reason && reason.message) || reason));
    });

    function inspect(id) {
        var el = document.getElementById(id);
        if (!el) {
            return {id: id, drew: false, kind: "missing", detail: "no element with this id"};
        }
        var canvas = el.querySelector("canvas");
        if (canvas) {
            var w = canvas.width, h = canvas.height;
            if (!w || !h) {
                return {id: id, drew: false, kind: "canvas", detail: "canvas has no area"};
            }
            var px = canvas.getContext("2d").getImageData(0, 0, w, h).data;
            var differing = 0;
            for (var i = 0; i < px.length; i += 4) {
                if (px[i] !== px[0] || px[i + 1] !== px[1] || px[i + 2] !== px[2]
                        || px[i + 3] !== px[3]) {
                    differing++;
                }
            }
            return {id: id, drew: differing > 0, kind: "canvas", width: w, height: h,
                    differing: differing,
                    background: "rgba(" + [px[0], px[1], px[2], px[3]].join(",") + ")"};
        }
        var svg = el.querySelector("svg");
        if (svg) {
            var marks = svg.querySelectorAll(".role-mark > *").length;
            return {id: id, drew: marks > 0, kind: "svg", marks: marks};
        }
        return {id: id, drew: false, kind: "none",
                detail: "no canvas or svg in the chart's element"};
    }

    function images() {
        return Array.prototype.map.call(document.images, function (img) {
            return {src: img.getAttribute("src"), loaded: img.complete && img.naturalWidth > 0,
                    width: img.naturalWidth, height: img.naturalHeight};
        });
    }

    function report(waited) {
        var verdict = {
            charts: CHART_IDS.map(inspect),
            images: images(),
            errors: errors,
            notes: Array.prototype.map.call(
                document.querySelectorAll(".dvc-offline-warning"),
                function (el) { return el.textContent.replace(/\\s+/g, " ").trim(); }
            ),
            waited_ms: waited,
            libraries: {
                vega: typeof window.vega === "undefined" ? null : window.vega.version,
                vegaLite: typeof window.vegaLite === "undefined" ? null : window.vegaLite.version,
                vegaEmbed: typeof window.vegaEmbed === "undefined" ? null
                    : window.vegaEmbed.version
            }
        };
        var json = JSON.stringify(verdict);
        var bytes = new TextEncoder().encode(json);
        var binary = "";
        for (var i = 0; i < bytes.length; i++) {
            binary += String.fromCharCode(bytes[i]);
        }
        var out = document.createElement("pre");
        out.id = "__VERDICT_ID__";
        out.textContent = btoa(binary);
        document.body.appendChild(out);
    }

    window.addEventListener("load", function () {
        var start = performance.now();
        (function poll() {
            var waited = performance.now() - start;
            var done = CHART_IDS.every(function (id) { return inspect(id).drew; })
                && images().every(function (img) { return img.loaded; });
            if (done || waited >= WAIT_MS) {
                report(Math.round(waited));
            } else {
                setTimeout(poll, 100);
            }
        })();
    });
})();
</script>
"""


def find_chromium(explicit: str | None) -> str:
    for candidate in (explicit, "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("check_plots_render: no Chromium (install it: apt-get install chromium)")


def find_dvc() -> str:
    beside = Path(sys.executable).with_name("dvc")
    return str(beside) if beside.is_file() else (shutil.which("dvc") or "dvc")


def render_page(out_dir: Path, html_template: Path | None) -> Path:
    cmd = [find_dvc(), "plots", "show", "-o", str(out_dir)]
    if html_template is not None:
        cmd += ["--html-template", str(html_template.resolve())]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0 or not (out_dir / "index.html").is_file():
        raise SystemExit(
            f"check_plots_render: {' '.join(cmd)} failed ({proc.returncode})\n"
            f"{proc.stdout}{proc.stderr}"
        )
    print(f"dvc plots show: {time.monotonic() - started:.1f} s")
    return out_dir / "index.html"


def probe_copy(page: Path, work: Path, wait_ms: int) -> tuple[Path, list[str]]:
    """A copy of the page with the probe first in <head> and <base> at the page's folder."""
    html = page.read_text(encoding="utf-8")
    chart_ids = CHART_CALL.findall(html)
    ids_js = json.dumps(chart_ids).replace("</", "<\\/")
    probe = (
        PROBE.replace("__CHART_IDS__", ids_js)
        .replace("__WAIT_MS__", str(wait_ms))
        .replace("__VERDICT_ID__", VERDICT_ID)
    )
    base = f'<base href="{page.parent.resolve().as_uri()}/">\n'
    head = HEAD_TAG.search(html)
    if head is None:
        html = base + probe + html
    else:
        html = html[: head.end()] + "\n" + base + probe + html[head.end() :]
    copy = work / "probe.html"
    copy.write_text(html, encoding="utf-8")
    return copy, chart_ids


def run_chromium(chromium: str, page: Path, work: Path, budget_ms: int, timeout: float) -> str:
    profile = work / "profile"
    cmd = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        page.as_uri(),
    ]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "XDG_CONFIG_HOME": str(work / "config"),
        "XDG_CACHE_HOME": str(work / "cache"),
    }
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise SystemExit(f"check_plots_render: Chromium did not finish in {timeout:.0f} s") from exc
    print(f"chromium: {time.monotonic() - started:.1f} s")
    if proc.returncode != 0:
        raise SystemExit(
            f"check_plots_render: Chromium exited {proc.returncode}\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def read_verdict(dom: str) -> dict | None:
    match = re.search(rf'<pre id="{VERDICT_ID}">([A-Za-z0-9+/=]*)</pre>', dom)
    if match is None:
        return None
    return json.loads(base64.b64decode(match.group(1)).decode("utf-8"))


def judge(verdict: dict | None, chart_ids: list[str]) -> tuple[list[str], bool]:
    """The report lines and whether everything drew and loaded."""
    if verdict is None:
        return ["FAILED: the probe wrote no verdict (its script never ran to the end)"], False
    lines = []
    ok = True
    libs = verdict["libraries"]
    lines.append(
        "libraries: "
        + ", ".join(f"{name} {version or 'MISSING'}" for name, version in libs.items())
    )
    seen = [chart["id"] for chart in verdict["charts"]]
    if seen != chart_ids:
        lines.append(f"FAILED: probe saw charts {seen}, the page has {chart_ids}")
        ok = False
    for chart in verdict["charts"]:
        if chart["kind"] == "canvas" and "differing" in chart:
            found = (
                f"canvas {chart['width']}x{chart['height']}, {chart['differing']} pixels differ "
                f"from the background {chart['background']}"
            )
        elif chart["kind"] == "svg":
            found = f"svg with {chart['marks']} mark items"
        else:
            found = chart.get("detail", chart["kind"])
        lines.append(f"chart {chart['id']}: {'drew' if chart['drew'] else 'BLANK'} ({found})")
        ok = ok and chart["drew"]
    for img in verdict["images"]:
        state = (
            f"loaded ({img['width']}x{img['height']})" if img["loaded"] else "NOT LOADED (broken)"
        )
        lines.append(f"image {img['src']}: {state}")
        ok = ok and img["loaded"]
    if not verdict["charts"] and not verdict["images"]:
        lines.append("FAILED: the page has no charts and no images to check")
        ok = False
    for error in verdict["errors"][:20]:
        lines.append(f"page error: {error}")
    for note in verdict["notes"]:
        lines.append(f"page shows: {note}")
    n_drew = sum(c["drew"] for c in verdict["charts"])
    n_loaded = sum(i["loaded"] for i in verdict["images"])
    summary = (
        f"{n_drew}/{len(verdict['charts'])} charts drew, "
        f"{n_loaded}/{len(verdict['images'])} images loaded, offline"
    )
    if ok:
        lines.append(f"OK: {summary}")
    else:
        lines.append(
            f"FAILED: {summary}. A blank chart offline usually means the page loads vega from "
            "a CDN: check .dvc/config's plots.html_template and rebuild the template with "
            "scripts/build_plots_template.py."
        )
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--html", type=Path, help="check this page instead of running dvc")
    source.add_argument(
        "--html-template", type=Path, help="passed to `dvc plots show --html-template`"
    )
    parser.add_argument("--chromium", help="Chromium binary (default /usr/bin/chromium)")
    parser.add_argument(
        "--wait-ms", type=int, default=20000, help="virtual ms to wait for the charts"
    )
    parser.add_argument("--timeout", type=float, default=300, help="wall seconds for Chromium")
    args = parser.parse_args(argv)

    try:
        chromium = find_chromium(args.chromium)
        with tempfile.TemporaryDirectory(prefix="plots-render-check-") as tmp:
            work = Path(tmp)
            if args.html is not None:
                if not args.html.is_file():
                    raise SystemExit(f"check_plots_render: {args.html} is not a file")
                page = args.html
            else:
                page = render_page(work / "dvc_plots", args.html_template)
            copy, chart_ids = probe_copy(page, work, args.wait_ms)
            dom = run_chromium(chromium, copy, work, args.wait_ms + 10000, args.timeout)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    lines, ok = judge(read_verdict(dom), chart_ids)
    print(f"page: {args.html if args.html is not None else 'dvc plots show (temporary folder)'}")
    for line in lines:
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
