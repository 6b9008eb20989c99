"""The offline HTML template of `dvc plots show` / `dvc plots diff`: vega, vega-lite and
vega-embed inlined at dvc-render's versions, nothing fetched, used by default through
.dvc/config, and the headless-Chromium check that the charts draw with no network."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from dvc_render.html import HTML, PAGE_HTML
from dvc_render.vega import VegaRenderer

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO / ".dvc" / "plots" / "offline"
TEMPLATE = TEMPLATE_DIR / "index.html"
CHROMIUM = Path("/usr/bin/chromium")
# The vega charts of dvc.yaml's `plots:` section (the ones with x/y), in its order.
CHARTS = (
    "CMC__person_search__re-id__visible-infrared_",
    "Precision-recall",
    "Training_loss",
    "Pseudo-label_quality__NMI_against_held-back_ids_",
)


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build_script = _load_script("build_plots_template")


class _Tags(HTMLParser):
    """Start tags with their attributes, and the text of each <script> (not parsed as HTML)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script, self._text = dict(attrs), []

    def handle_data(self, data):
        if self._script is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def _cdn_versions() -> list[tuple[str, str]]:
    """(package, version) of dvc-render's own CDN <script> tags, in their order."""
    return re.findall(r"cdn\.jsdelivr\.net/npm/([a-z-]+)@([0-9.]+)", VegaRenderer.SCRIPTS)


def test_template_has_dvc_placeholders_and_keeps_cdn_scripts_out(template):
    assert template.count("{plot_divs}") == 1
    assert "{refresh_tag}" in template
    # DVC would put its CDN <script> tags where this placeholder is.
    assert "{scripts}" not in template
    page = (
        HTML(template, refresh_seconds=5)
        .with_scripts(VegaRenderer.SCRIPTS)
        .with_element('<div id="chart-x"></div>')
        .embed()
    )
    assert '<div id="chart-x"></div>' in page
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "cdn.jsdelivr.net" not in page
    assert not re.search(r"\{(plot_divs|scripts|refresh_tag)\}", page)


def test_template_fetches_nothing(template):
    remote = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
    tags = _parse(template).tags
    assert [tag for tag, _ in tags if tag == "script"], "no <script> parsed"
    for tag, attrs in tags:
        if tag == "script":
            assert "src" not in attrs, f"<script src={attrs['src']!r}>: must be inlined"
        for attr in ("src", "href"):
            value = attrs.get(attr)
            assert not (value and remote.match(value)), f"<{tag} {attr}={value!r}> is fetched"
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", template, re.IGNORECASE)


def test_libraries_inlined_at_dvc_render_versions(template):
    pinned = [(name, version) for name, version, _ in build_script.PACKAGES]
    expected = [("vega", "5.20.2"), ("vega-lite", "5.2.0"), ("vega-embed", "6.18.2")]
    assert _cdn_versions() == expected, "dvc-render's CDN versions changed: rebuild the template"
    assert pinned == expected
    inlined = {
        attrs["data-package"]: text
        for attrs, text in _parse(template).scripts
        if "data-package" in attrs
    }
    assert list(inlined) == [f"{name}@{version}" for name, version in pinned]
    globals_ = {"vega": ".vega={}", "vega-lite": ".vegaLite={}", "vega-embed": ".vegaEmbed="}
    for name, version in pinned:
        text = inlined[f"{name}@{version}"]
        assert len(text) > 50_000, f"{name}: only {len(text)} characters inlined"
        assert f'"{version}"' in text, f"{name}: version string {version} not in its script"
        assert globals_[name] in text, f"{name}: its UMD build does not define the global"
        assert "sourceMappingURL" not in text


def test_template_is_what_the_build_script_writes(template):
    """The committed page is render() of its own inlined libraries: no hand edits, and the
    header names the pinned tarballs and integrity strings."""
    scripts = {
        attrs["data-package"]: text
        for attrs, text in _parse(template).scripts
        if "data-package" in attrs
    }
    libraries = [
        (name, version, integrity, scripts[f"{name}@{version}"].lstrip("\n").encode("utf-8"))
        for name, version, integrity in build_script.PACKAGES
    ]
    assert build_script.render(libraries) == TEMPLATE.read_bytes()
    for name, version, integrity in build_script.PACKAGES:
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", integrity)
        assert build_script.tarball_url(name, version) in template
        assert integrity in template


def test_template_shows_a_note_when_scripts_fail(template):
    assert re.search(r"<noscript>.*dvc-offline-warning.*</noscript>", template, re.DOTALL)
    tail = template[template.index("{plot_divs}") :]
    assert '["vega", "vegaLite", "vegaEmbed"]' in tail
    assert "did not load" in tail


def test_licences_beside_the_template():
    for name, _, _ in build_script.PACKAGES:
        licence = TEMPLATE_DIR / build_script.licence_name(name)
        assert licence.is_file(), f"{licence} missing"
        text = licence.read_text(encoding="utf-8")
        assert "University of Washington Interactive Data Lab" in text
        assert "Redistribution and use in source and binary forms" in text


def test_dvc_config_points_at_the_template():
    from dvc.repo import Repo

    with Repo(os.fspath(REPO)) as repo:
        value = repo.config["plots"]["html_template"]
        # dvc/commands/plots.py: a relative plots.html_template is joined to the .dvc folder.
        assert not os.path.isabs(value)
        resolved = Path(repo.dvc_dir, value).resolve()
    assert resolved == TEMPLATE.resolve()
    # .dvc/.gitignore ignores some of .dvc/ (cache, tmp, config.local); not this folder.
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "-v", os.path.relpath(TEMPLATE, REPO)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert ignored.returncode == 1, f"git ignores the template: {ignored.stdout}{ignored.stderr}"


def _run_check(*args: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); .ci/run installs it")
    return subprocess.run(
        [sys.executable, "scripts/check_plots_render.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_charts_draw_offline_in_chromium():
    proc = _run_check()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for chart in CHARTS:
        assert re.search(rf"^chart {re.escape(chart)}: drew \(", proc.stdout, re.MULTILINE)
    assert re.search(rf"^OK: {len(CHARTS)}/{len(CHARTS)} charts drew", proc.stdout, re.MULTILINE)


def test_check_fails_on_dvc_default_cdn_page(tmp_path):
    """The check can fail: DVC's own page loads vega from the CDN, so offline nothing draws."""
    cdn_template = tmp_path / "cdn.html"
    cdn_template.write_text(PAGE_HTML, encoding="utf-8")
    proc = _run_check("--html-template", os.fspath(cdn_template))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for chart in CHARTS:
        assert re.search(rf"^chart {re.escape(chart)}: BLANK", proc.stdout, re.MULTILINE)
    assert "failed to load https://cdn.jsdelivr.net/npm/vega@5.20.2" in proc.stdout
    assert re.search(r"^FAILED: 0/4 charts drew", proc.stdout, re.MULTILINE)
