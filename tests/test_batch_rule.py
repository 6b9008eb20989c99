"""runtime.batch_rule / lr_scaling / precision: the rule as a function, and each DDP rank
of every track taking what the rule says under torchrun and under detectron2's launcher."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch

from pipeline.params import ParamsError, RuntimeSettings, validate
from pipeline.runtime import Runtime, autocast_region, batch_plan, setup
from tests.dclnet.dclnet_tiny import write_tiny_vi_dataset
from tests.helpers.workers import run_worker
from tests.real_config import real_params
from tests.scl.tiny_data import make_dataset


def _plan(configured, world, rule, scaling="none"):
    return batch_plan(
        configured, world_size=world, batch_rule=rule, lr_scaling=scaling, key="x.batch"
    )


@pytest.mark.parametrize("world", [1, 2, 4, 8])
def test_total_rule_splits_the_papers_batch_and_keeps_lr_and_warmup(world):
    for scaling in ("none", "linear"):  # the total batch is the configured one: factor 1
        plan = _plan(8, world, "total", scaling)
        assert (plan.per_process, plan.total) == (8 // world, 8)
        assert plan.lr_factor == 1.0 and plan.lr(0.0035) == 0.0035
        assert plan.warmup_iters(2242) == 2242


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_per_process_rule_multiplies_the_batch_and_scales_lr_only_when_linear(world):
    none, linear = _plan(4, world, "per_process"), _plan(4, world, "per_process", "linear")
    assert (none.per_process, none.total) == (4, 4 * world)
    assert none.lr(0.001) == 0.001
    assert linear.lr_factor == world and linear.lr(0.001) == pytest.approx(0.001 * world)
    # A warm-up in iterations keeps its number of images: iterations / world.
    assert none.warmup_iters(2242) == linear.warmup_iters(2242) == round(2242 / world)
    assert none.warmup_iters(0) == 0 and none.warmup_iters(1) == 1


@pytest.mark.parametrize(("configured", "world"), [(4, 3), (8, 3), (2, 4), (1, 2)])
def test_total_rule_refuses_a_batch_the_processes_cannot_share(configured, world):
    with pytest.raises(ParamsError, match=r"x\.batch: value .* runtime\.batch_rule 'total'"):
        _plan(configured, world, "total")
    assert _plan(configured, world, "per_process").per_process == configured


def test_runtime_keys_are_validated_with_the_key_named():
    runtime = real_params()["runtime"]
    assert (runtime["precision"], runtime["batch_rule"], runtime["lr_scaling"]) == (
        "fp32",
        "total",
        "none",
    )
    for key, bad in (("precision", "fp16"), ("batch_rule", "global"), ("lr_scaling", "sqrt")):
        with pytest.raises(ParamsError, match=rf"runtime\.{key}: value '{bad}' not allowed"):
            validate(RuntimeSettings, {**runtime, key: bad}, "runtime")


def test_fp32_region_is_a_no_op_and_bf16_autocasts():
    assert isinstance(autocast_region("cpu", "fp32"), contextlib.nullcontext)
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast_region("cpu", "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision 'fp16'"):
        autocast_region("cpu", "fp16")


def test_bf16_on_cpu_kernels_pinned_to_avx2_is_warned_about(monkeypatch, caplog):
    threads = torch.get_num_threads()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    settings = validate(RuntimeSettings, {**real_params()["runtime"], "threads": 1}, "runtime")
    with caplog.at_level("WARNING", logger="pipeline.runtime"):
        setup(settings.model_copy(update={"device": "cpu"}), 0)
        assert not caplog.records  # fp32: nothing to say
        runtime = setup(settings.model_copy(update={"device": "cpu", "precision": "bf16"}), 0)
    assert runtime.precision == "bf16"
    assert len(caplog.records) == 1 and "PIPELINE_CPU_ISA=native" in caplog.records[0].message
    torch.set_num_threads(threads)


def test_resume_key_is_empty_for_the_defaults():
    cpu = torch.device("cpu")
    assert Runtime(device=cpu).resume_key() == ()
    assert Runtime(device=cpu, precision="bf16").resume_key() == ("precision=bf16",)
    two = Runtime(device=cpu, world_size=2, batch_rule="per_process", lr_scaling="linear")
    assert two.resume_key() == ("batch_rule=per_process", "lr_scaling=linear")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch_rule")
    scl_index = make_dataset(root / "scl")
    write_tiny_vi_dataset(root / "vi")
    return scl_index, root / "vi"


def _rank_reports(tiny_data, out, rule: str, scaling: str, *launcher) -> list[dict]:
    """Run the worker as 2 ranks (torchrun, or ``--launch 2``); each rank's report."""
    scl_index, vi_root = tiny_data
    extra = {} if launcher else {"ranks": 2}
    run_worker(
        "tests.batch_rule_worker", out, scl_index, vi_root, rule, scaling, *launcher, **extra
    )
    reports = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"]) for r in reports] == [(0, 2), (1, 2)]
    return reports


@pytest.mark.slow
def test_torchrun_ranks_take_the_total_rules_share(tiny_data, tmp_path):
    for report in _rank_reports(tiny_data, tmp_path, "total", "none"):
        # DICL's paper batch of 4 images: 2 per process, the paper's lr and warm-up, and
        # as many iterations per epoch as one process taking 4 (800 images / 4).
        assert report["dicl"] == {
            "ims_per_batch": 2,
            "lr": 0.001,
            "warmup_iters": 2242,
            "iters_per_epoch": 200,
        }
        assert report["scl"] == {"batch_size": 4, "lr": 0.01, "first_batch": 4}
        # DCLNet: 2 identities per step, 1 per process; 2 steps of the configured batch
        # per epoch are 4 half-size batches, 2 per process.
        vi = report["dclnet"]
        assert (vi["ids_per_batch"], vi["first_batch"], vi["steps"]) == (1, 4, 2)
        assert vi["lr"] == 0.0035 and vi["group_lrs"] == pytest.approx([0.00035, 0.0035])


@pytest.mark.slow
def test_detectron2_launch_ranks_take_the_per_process_rule_and_linear_lr(tiny_data, tmp_path):
    for report in _rank_reports(tiny_data, tmp_path, "per_process", "linear", "--launch", 2):
        # Every process takes the whole batch: a step holds twice the paper's, the lr is
        # doubled and the warm-up spans the same images in half the iterations.
        assert report["dicl"] == {
            "ims_per_batch": 4,
            "lr": 0.002,
            "warmup_iters": 1121,
            "iters_per_epoch": 100,
        }
        assert report["scl"] == {"batch_size": 8, "lr": 0.02, "first_batch": 8}
        vi = report["dclnet"]
        assert (vi["ids_per_batch"], vi["first_batch"], vi["steps"]) == (2, 8, 1)
        assert vi["lr"] == 0.007 and vi["group_lrs"] == pytest.approx([0.0007, 0.007])
