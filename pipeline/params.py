"""One loader for params.yaml, shared by every stage.

params.yaml is read as YAML 1.2 (ruamel.yaml's safe loader): ``dvc exp run -S
lr=1e-6`` writes ``1e-06`` and people write ``1e-3``; YAML 1.1 loaders (PyYAML's
default) read both as strings. Each stage validates the sections it uses into
typed pydantic settings; a wrong key, type or range stops it with a message
naming the key, the value given and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

DEFAULT_PARAMS = Path("params.yaml")

# Top-level sections of params.yaml; anything else is a typo.
TOP_LEVEL_KEYS = (
    "seed",
    "runtime",
    "tracking",
    "datasets",
    "dicl",
    "scl",
    "dclnet",
    "report",
)


class ParamsError(ValueError):
    """params.yaml is unreadable or a value in it is not allowed."""


class Settings(BaseModel):
    """Base of every settings section: unknown keys are errors, values are strict.

    Strict: ``epochs: true`` or ``lr: '0.01'`` is refused, not read as a number
    (an int is still a float). A tuple field takes a YAML list when it is marked
    ``Annotated[tuple[...], Strict(False)]``; its items stay strict.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RuntimeSettings(Settings):
    threads: int = Field(ge=1, description="torch intra-op threads")
    device: Literal["auto", "cpu", "cuda"]
    deterministic: bool
    # torchrun / detectron2 launch: processes per node (1 = no DDP).
    num_processes: int = Field(ge=1)
    dist_backend: Literal["auto", "gloo", "nccl"]
    # Training forward passes in bfloat16 autocast, or not (pipeline.runtime.Runtime.autocast).
    precision: Literal["fp32", "bf16"]
    # Under DDP: the configured batch is the step's total (split over processes) or each
    # process's; and whether the lr follows the total batch (pipeline.runtime.BatchPlan).
    batch_rule: Literal["total", "per_process"]
    lr_scaling: Literal["none", "linear"]


class TrackingSettings(Settings):
    # Overrides MLFLOW_TRACKING_URI when set; default: sqlite store at the repo root.
    uri: str | None
    required: bool


def yaml_loader() -> YAML:
    """The project's YAML reader: safe (no object construction), YAML 1.2."""
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    return yaml


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        with path.open("r", encoding="utf-8") as fh:
            return yaml_loader().load(fh)
    except FileNotFoundError as exc:
        raise ParamsError(f"{path}: file not found") from exc
    except YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read params.yaml and check its top-level keys."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ParamsError(
            f"{path}: unknown top-level key(s) {unknown}; allowed: {', '.join(TOP_LEVEL_KEYS)}"
        )
    seed = data.get("seed", 0)
    # bool is an int in Python; `seed: true` is a typo, not a seed.
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParamsError(f"{path}: seed: value {seed!r} not allowed: expected an integer >= 0")
    return data


S = TypeVar("S", bound=BaseModel)


def _describe_error(err: dict[str, Any], prefix: str) -> str:
    key = ".".join([prefix, *(str(p) for p in err["loc"])]).strip(".")
    value = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key (value {value!r})"
    if kind == "missing":
        return f"{key}: required key is missing"
    return f"{key}: value {value!r} not allowed: {err['msg']}"


def validate(model: type[S], data: Any, prefix: str = "") -> S:
    """Validate ``data`` into ``model``; raise ParamsError naming every bad key."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        lines = [_describe_error(e, prefix) for e in exc.errors(include_url=False)]
        raise ParamsError("invalid params:\n  " + "\n  ".join(lines)) from None


def section(params: dict[str, Any], name: str, model: type[S]) -> S:
    """Validate one top-level section of loaded params."""
    return validate(model, params.get(name), prefix=name)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, the form MLflow and DVC use for params."""
    if isinstance(tree, BaseModel):
        tree = tree.model_dump(mode="json")
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key in sorted(tree):
            out.update(flatten(tree[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: tree}
