"""Where each dataset comes from: the ``datasets.<name>`` section of params.yaml.

An entry is either rendered by the synthetic world in one of the original
layouts, or read from an archive (downloaded from ``url``, or placed by hand
under ``data/archives/<archive>``). Sources, checksums and access rules of the
seven real datasets are in docs/datasets.md, "Sources"::

    datasets:
      market1501:
        source: archive
        layout: market1501
        url: http://188.138.127.15:81/Datasets/Market-1501-v15.09.15.zip
        archive: Market-1501-v15.09.15.zip
        sha256: null          # not pinned yet: md5 is checked, the sha256 is printed
        md5: 65005ab7d12ec1c44de4eeafe813e68a
        access: public
        limits: {max_gib: 64, max_members: 1000000, max_ratio: 100}   # optional; the defaults
      synthetic_market1501:
        source: synthetic
        layout: market1501
        render: {seed: 0}     # validated by pipeline.data.synthetic

Each track section names its dataset (``<track>.dataset``), as the selected
``conf/<track>/dataset/<name>.yaml`` option set it; ``load_track_settings`` validates a
track section against these entries.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from pipeline.params import ParamsError, Settings, validate

# The original layouts a converter exists for (pipeline.data.converters.CONVERTERS).
LAYOUTS = ("market1501", "dukemtmc", "msmt17", "cuhk_sysu", "prw", "sysu_mm01", "regdb")
Layout = Literal["market1501", "dukemtmc", "msmt17", "cuhk_sysu", "prw", "sysu_mm01", "regdb"]

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Md5 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


def _not_dot_name(name: str) -> str:
    if name in (".", ".."):
        raise ValueError(f"{name!r} is not a file name")
    return name


# A bare file (or folder) name under data/archives/: no separators, no "..".
ArchiveName = Annotated[
    str, StringConstraints(pattern=r"^[^/\\\x00]+$"), AfterValidator(_not_dot_name)
]
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]


class SyntheticSource(Settings):
    """Rendered offline by ``pipeline.data.synthetic.render`` in an original layout."""

    source: Literal["synthetic"]
    layout: Layout
    # Sizes and seed of the synthetic world; pipeline.data.synthetic validates them.
    render: dict[str, Any]
    # Decode every image while converting (slow at real scale; names are always checked).
    # Optional: conf/ leaves it out, so this default is its one statement.
    verify_images: bool = False


class ExtractLimits(Settings):
    """What extracting an archive may write; a zip bomb or a lying header stops at its member.

    The defaults are far above the largest real dataset (CUHK-SYSU, PRW, MSMT17, SYSU-MM01:
    a few GB and at most about 130,000 files each, mostly JPEGs that do not compress). They
    are the only statement of these values: conf/ sets ``limits`` on no dataset (an entry
    may, to override them), so tests/test_defaults.py lets them keep their defaults.
    """

    max_gib: float = Field(64.0, gt=0, description="extracted bytes in all, in GiB")
    max_members: int = Field(1_000_000, ge=1, description="files and folders in the archive")
    # Extracted bytes per archive byte (JPEG archives: about 1; zeros deflate 1000 to 1).
    max_ratio: float = Field(100.0, ge=1)


class ArchiveSource(Settings):
    """A real dataset read from an archive file (or an extracted folder) in data/archives/."""

    source: Literal["archive"]
    layout: Layout
    url: Url | None
    archive: ArchiveName
    # Pinned sha256 of the archive; null = not pinned (md5 checked where known, sha256 printed).
    sha256: Sha256 | None
    # Optional (conf/ states it where the authors publish one, and never as null).
    md5: Md5 | None = None
    access: Literal["public", "form", "withdrawn"]
    # Where to ask for it: the form's name and URL (required when access is "form").
    form: str | None = None
    # Optional, as in SyntheticSource; conf/ leaves both out, so these defaults are their one
    # statement (tests/test_defaults.py).
    verify_images: bool = False
    limits: ExtractLimits = ExtractLimits()

    @model_validator(mode="after")
    def _access_rules(self) -> ArchiveSource:
        if self.access == "public" and self.url is None:
            raise ValueError("access 'public' needs a url (use 'form' or 'withdrawn' otherwise)")
        if self.access != "public" and self.url is not None:
            raise ValueError(f"access {self.access!r} takes no url: the archive is placed by hand")
        if self.access == "form" and not self.form:
            raise ValueError("access 'form' needs `form`: the form's name and where to find it")
        return self


DatasetSource = Annotated[SyntheticSource | ArchiveSource, Field(discriminator="source")]
_BY_SOURCE: dict[str, type[SyntheticSource] | type[ArchiveSource]] = {
    "synthetic": SyntheticSource,
    "archive": ArchiveSource,
}


def parse_source(data: Any, prefix: str) -> SyntheticSource | ArchiveSource:
    """Validate one ``datasets.<name>`` entry.

    Args:
        data: the entry as loaded from params.yaml.
        prefix: the key path used in error messages, e.g. ``datasets.market1501``.

    Returns:
        The typed entry; its ``source`` field picks the class.

    Raises:
        ParamsError: naming each bad key.
    """
    if not isinstance(data, dict):
        raise ParamsError(f"{prefix}: expected a mapping, got {type(data).__name__}")
    source = data.get("source")
    if source not in _BY_SOURCE:
        raise ParamsError(
            f"{prefix}.source: value {source!r} not allowed: expected one of {sorted(_BY_SOURCE)}"
        )
    return validate(_BY_SOURCE[source], data, prefix=prefix)


def dataset_source(
    params: dict[str, Any], name: str, key: str | None = None
) -> SyntheticSource | ArchiveSource:
    """The validated entry ``datasets.<name>`` of loaded params.

    Args:
        params: the whole params.yaml as loaded.
        name: the dataset's key in ``datasets:``.
        key: the params key that named it (e.g. ``scl.dataset``), for the message.

    Raises:
        ParamsError: unknown name (the message lists the known ones) or a bad entry.
    """
    datasets = params.get("datasets") or {}
    if not isinstance(datasets, dict):
        raise ParamsError(f"datasets: expected a mapping, got {type(datasets).__name__}")
    if name not in datasets:
        known = ", ".join(sorted(datasets)) or "(none)"
        where = key or f"datasets.{name}"
        raise ParamsError(f"{where}: unknown dataset {name!r}; known datasets: {known}")
    return parse_source(datasets[name], prefix=f"datasets.{name}")


S = TypeVar("S", bound=BaseModel)


# The key each conf/<track>/dataset/<name>.yaml option sets to its own name.
RECIPE_KEY = "recipe"


def load_track_settings(
    params: dict[str, Any], track: str, model: type[S], layouts: tuple[str, ...]
) -> tuple[S, str]:
    """Validate a track section as params.yaml holds it; check its dataset.

    params.yaml is composed from conf/ (``dvc exp run``, docs/design.md, "Parameters"):
    the track's base file, the selected ``<track>/dataset`` option, then every ``-S``, so
    the section is final and is validated as it is (tests/test_compose.py validates every
    option). Each option names itself in ``recipe`` (its dataset, or
    ``<dataset>_<variant>``); a ``dataset`` that does not match it was set by
    ``-S <track>.dataset=...``, which changes the data but keeps the other dataset's
    settings, and is refused.

    Args:
        params: the whole params.yaml as loaded.
        track: the section's name (``dicl``, ``scl``, ``dclnet``).
        model: the section's settings model (with a ``dataset`` field).
        layouts: the dataset layouts the track trains on.

    Returns:
        ``(settings, layout)`` of the selected dataset.

    Raises:
        ParamsError: a bad key or value (named as ``<track>.<key>``), an unknown
            dataset, a dataset without its option, or a layout the track does not support.
    """
    track_params = params.get(track)
    if not isinstance(track_params, dict):
        raise ParamsError(f"{track}: section missing or not a mapping")
    if "profiles" in track_params:
        raise ParamsError(
            f"{track}.profiles: dataset profiles moved to conf/{track}/dataset/<dataset>.yaml; "
            f"select one with dvc exp run -S '{track}/dataset=<dataset>'"
        )
    track_params = dict(track_params)
    recipe = track_params.pop(RECIPE_KEY, None)
    settings = validate(model, track_params, prefix=track)
    source = dataset_source(params, settings.dataset, key=f"{track}.dataset")
    if source.layout not in layouts:
        raise ParamsError(
            f"{track}.dataset: {settings.dataset!r} has layout {source.layout!r}; "
            f"the {track} track supports {', '.join(layouts)}"
        )
    # An option is named after its dataset, or <dataset>_<variant> (another paper's recipe
    # on that dataset, e.g. conf/scl/dataset/market1501_cluster_contrast.yaml).
    if recipe is not None and not (
        settings.dataset == recipe or recipe.startswith(f"{settings.dataset}_")
    ):
        raise ParamsError(
            f"{track}.dataset: {settings.dataset!r}, but the section holds the settings of "
            f"conf/{track}/dataset/{recipe}.yaml ({track}.{RECIPE_KEY}). Select a dataset "
            f"with its settings: dvc exp run -S {track}/dataset={settings.dataset}"
        )
    return settings, source.layout
