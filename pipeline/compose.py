"""params.yaml as `dvc exp run` composes it from conf/, without running the pipeline.

conf/ is the source of the parameters: ``conf/config.yaml`` with its defaults list, a base
file per track (the paper's settings) and a ``<track>/dataset`` group with one option per
dataset (what that dataset changes). ``dvc exp run`` (``hydra.enabled`` in .dvc/config)
composes it, applies each ``-S`` override after the composition, so the user's value wins,
and writes params.yaml; ``dvc repro`` and the stages read params.yaml. ``dvc exp run --dry``
does not write it; this module does, with the calls DVC makes (dvc.utils.hydra's
``compose_and_dump``), so the bytes are the same::

    python -m pipeline.compose                                        # params.yaml from conf/
    python -m pipeline.compose 'scl/dataset=market1501' scl.train.lr=1e-6
    python -m pipeline.compose --check                                # exit 1 when stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.params import DEFAULT_PARAMS, ParamsError, yaml_loader

# The [hydra] section of .dvc/config names these (tests/test_compose.py checks they agree).
CONF_DIR = Path("conf")
CONFIG_NAME = "config"


def compose_text(
    overrides: Sequence[str] = (), conf_dir: str | Path = CONF_DIR, config_name: str = CONFIG_NAME
) -> str:
    """The params.yaml text ``dvc exp run -S <override> ...`` writes."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
            cfg = compose(config_name=config_name, overrides=list(overrides))
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ParamsError(f"{conf_dir}: cannot compose {list(overrides)}: {exc}") from None
    return OmegaConf.to_yaml(cfg)


def compose_params(
    overrides: Sequence[str] = (), conf_dir: str | Path = CONF_DIR, config_name: str = CONFIG_NAME
) -> dict[str, Any]:
    """The composed params as ``load_params`` reads them from the written params.yaml."""
    return yaml_loader().load(compose_text(overrides, conf_dir, config_name))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.compose", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        help="Hydra overrides, as for dvc exp run -S (e.g. scl.train.lr=1e-6)",
    )
    parser.add_argument("--conf", type=Path, default=CONF_DIR, help="config folder (conf)")
    parser.add_argument("--output", type=Path, default=DEFAULT_PARAMS, help="(params.yaml)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if --output differs"
    )
    args = parser.parse_args(argv)
    try:
        text = compose_text(args.overrides, args.conf)
    except ParamsError as exc:
        print(exc, file=sys.stderr)
        return 2
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is not the composition of {args.conf}/", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
