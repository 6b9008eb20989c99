"""The embedded synthetic world: small datasets rendered offline in the real layouts.

The default data of every track (docs/datasets.md, "The embedded synthetic world"),
so ``dvc repro`` runs the real pipeline, converters included, without any
download. A procedural, seeded renderer (numpy and PIL) draws people as
articulated 2.5D figures whose identities are attribute vectors with families
of look-alikes, seen by cameras that differ in colour response, blur, noise,
resolution, background and viewpoint, occluded by objects and other people.
Infrared cameras never shade from colour: a near-infrared camera sees each dye's
reflectance (SYSU-MM01's default), a thermal one fabric emissivity and skin
temperature (RegDB's default; ``infrared_band`` picks either). Same seed, same
bytes.

Layouts: ``market1501`` (re-id crops), ``cuhk_sysu`` (person-search scenes),
``sysu_mm01`` (visible-infrared crops from six cameras), ``regdb``
(visible-thermal pairs from one dual camera).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipeline.data.synthetic.cuhk_sysu import render_cuhk_sysu
from pipeline.data.synthetic.market1501 import render_market1501
from pipeline.data.synthetic.regdb import render_regdb
from pipeline.data.synthetic.settings import SETTINGS
from pipeline.data.synthetic.sysu_mm01 import render_sysu_mm01
from pipeline.params import ParamsError, validate

RENDERERS: dict[str, Callable[[Any, Path], dict[str, int]]] = {
    "market1501": render_market1501,
    "cuhk_sysu": render_cuhk_sysu,
    "sysu_mm01": render_sysu_mm01,
    "regdb": render_regdb,
}
LAYOUTS = tuple(RENDERERS)


def render(
    layout: str,
    render_params: Mapping[str, Any] | None,
    out_dir: str | Path,
    prefix: str = "render",
) -> dict[str, int]:
    """Render one synthetic dataset in an original layout.

    Args:
        layout: ``market1501``, ``cuhk_sysu``, ``sysu_mm01`` or ``regdb``.
        render_params: the ``render:`` mapping of the dataset's params entry
            (seed and sizes; every key of the layout's model in
            ``pipeline.data.synthetic.settings`` is required: conf/ holds the values).
        out_dir: folder to write into (created; the caller makes it atomic).
        prefix: key path of ``render_params`` in error messages, e.g.
            ``datasets.synthetic_market1501.render``.

    Returns:
        Counts of what was written (identities, images, boxes per split).

    Raises:
        ParamsError: unknown layout, or a bad key or value in ``render_params``
            (the message names it under ``prefix``).
    """
    if layout not in RENDERERS:
        raise ParamsError(
            f"{prefix}: layout {layout!r} cannot be rendered; synthetic layouts: {', '.join(LAYOUTS)}"
        )
    settings = validate(SETTINGS[layout], dict(render_params or {}), prefix=prefix)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return RENDERERS[layout](settings, out_dir)


__all__ = ["LAYOUTS", "render"]
