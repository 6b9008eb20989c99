"""Subprocess entry of the resume test: train the tiny world, pausing after epoch 0.

Usage: ``python resume_worker.py <root> <pause seconds>``. The pause follows the
first epoch's checkpoint, so the parent can SIGKILL the run at that point.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from dclnet_tiny import TINY_SETTINGS  # noqa: E402

from pipeline.models.dclnet.settings import DclnetSettings  # noqa: E402
from pipeline.models.dclnet.training import train_dclnet  # noqa: E402
from pipeline.runtime import setup  # noqa: E402
from tests.real_config import merged, runtime_settings  # noqa: E402

RESUME_SETTINGS = merged(TINY_SETTINGS, {"train": {"epochs": 3}})


def main(root: Path, pause: float) -> None:
    runtime = setup(runtime_settings(threads=1), 0)
    settings = DclnetSettings.model_validate(RESUME_SETTINGS)

    def after_epoch(unit: str, epoch: int, row: dict) -> None:
        if epoch == 0:
            time.sleep(pause)

    train_dclnet(
        settings,
        "sysu_mm01",
        data_dir=root / "processed",
        model_dir=root / "models",
        plots_dir=root / "plots",
        runtime=runtime,
        seed=0,
        root=root,
        on_epoch_end=after_epoch,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]))
