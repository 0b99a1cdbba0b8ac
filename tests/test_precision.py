"""The training precision: the hardware decides on auto, the user's choice otherwise; both
paths train on real digits and the one used is recorded."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from mnist_models import cli, cpu
from mnist_models.nets import networks
from mnist_models.nets.metadata import validate
from mnist_models.training import pipeline
from mnist_models.training import train as train_module
from mnist_models.training.train import TrainConfig, train


def never() -> bool:
    raise AssertionError("the speed check ran although its answer did not decide")


@pytest.mark.parametrize(
    ("capability", "flags", "native"),
    [
        ("AVX512", {"avx512f", "avx512_bf16"}, True),
        ("AVX512", {"avx512f", "amx_bf16"}, True),
        ("AVX512", {"avx512f", "avx2"}, False),  # AVX-512 without bf16: emulated
        ("AVX2", {"avx2"}, False),
        ("AVX2", {"avx2", "avx512_bf16"}, False),  # torch built without its AVX512 path
        ("DEFAULT", set(), False),
        ("NO AVX", set(), False),
    ],
)
def test_native_bf16_follows_the_cpu(capability, flags, native) -> None:
    assert cpu.has_native_bf16(capability, frozenset(flags)) is native


def test_auto_takes_bf16_only_where_it_is_native_and_faster() -> None:
    assert cpu.choose_precision("auto", "cpu", False, never) == "fp32"  # AVX2-only CPUs
    assert cpu.choose_precision("auto", "cpu", True, lambda: True) == "bf16"
    assert cpu.choose_precision("auto", "cpu", True, lambda: False) == "fp32"  # measured slower
    assert cpu.choose_precision("auto", "cuda", True, never) == "fp32"
    for asked in ("fp32", "bf16"):  # the user's choice stands on any CPU
        assert cpu.choose_precision(asked, "cpu", False, never) == asked
        assert cpu.choose_precision(asked, "cpu", True, never) == asked
    with pytest.raises(ValueError, match="unknown precision 'fp16'; choose from auto, fp32"):
        cpu.choose_precision("fp16", "cpu", True, never)


def test_the_speed_check_runs_once_per_process() -> None:
    first = cpu.bf16_faster()
    assert cpu._BF16_FASTER is first and cpu.bf16_faster() is first


def test_the_speed_check_times_both_kinds_of_product() -> None:
    fp32, bf16 = cpu._time_mm(n=64, rounds=2)
    assert 0 < fp32 < 1 and 0 < bf16 < 1


# What auto decides in a fresh process, with the environment given.
DECIDE = (
    "import torch; from mnist_models import cpu; "
    "native = cpu.has_native_bf16(torch.backends.cpu.get_cpu_capability(), cpu.cpu_flags()); "
    "print(native, cpu.bf16_faster(), cpu.training_precision('auto', 'cpu'))"
)


def test_auto_takes_fp32_where_bf16_is_emulated(root) -> None:
    # oneDNN kept to AVX2 computes bf16 in software on any x86 CPU, whatever its flags: the
    # speed check sees it slower (about 30x on AVX-512 bf16 hardware) and auto takes fp32.
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    out = subprocess.run(
        [sys.executable, "-c", DECIDE], cwd=root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    native, faster, used = out.stdout.split()
    assert (faster, used) == ("False", "fp32")


def test_auto_takes_bf16_where_the_cpu_has_it(root) -> None:
    out = subprocess.run([sys.executable, "-c", DECIDE], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    native, faster, used = out.stdout.split()
    if native == "False":
        pytest.skip("this CPU has no native bf16 (the fp32 path is tested above)")
    assert (faster, used) == ("True", "bf16")


def test_an_unknown_precision_is_refused_before_training() -> None:
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        TrainConfig(model="mlp", precision="half").resolved()


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_both_precisions_train_and_learn(model, train_split, small_test) -> None:
    # bf16 autocast runs on any x86 CPU (emulated where not native): tested everywhere.
    accuracy = {}
    for precision in ("fp32", "bf16"):
        cfg = TrainConfig(
            model=model,
            subset=500,
            epochs=4,
            eval_every=0,
            threads=1,
            device="cpu",
            precision=precision,
            seed=3,
        )
        result = train(cfg, train_split=train_split, test_split=small_test)
        assert result.precision == precision
        accuracy[precision] = result.test_accuracy
        for p in result.model.parameters():  # the weights stay fp32 on both paths
            assert p.dtype.is_floating_point and p.dtype.itemsize == 4
    assert min(accuracy.values()) > 0.4  # chance: 0.1
    assert abs(accuracy["fp32"] - accuracy["bf16"]) < 0.1


def test_the_precision_used_goes_into_metadata_and_command(tmp_path, train_split, small_test):
    cfg = TrainConfig(model="mlp", subset=300, epochs=1, eval_every=0, threads=1, device="cpu")
    fitted = pipeline.fit(cfg, train_split=train_split, test_split=small_test)
    used = cpu.training_precision("auto", "cpu")
    meta = validate(fitted.save(tmp_path / "m.pt"))  # the schema takes both fields
    assert meta["precision"] == used and meta["train_config"]["precision"] == "auto"
    words = shlex.split(meta["command"])
    assert words[words.index("--precision") + 1] == used


def test_auto_takes_bf16_only_for_networks_the_table_allows_on_this_kind_of_cpu() -> None:
    # The MLP gains from bf16 on every native-bf16 CPU; the ConvNet only with AMX tiles
    # (with AVX-512 bf16 alone it lost to fp32 on a busy machine): docs/training.md.
    avx512_bf16, amx = frozenset({"avx512f", "avx512_bf16"}), frozenset({"avx512_bf16", "amx_bf16"})
    mlp, cnn = networks.get("mlp"), networks.get("cnn")
    assert mlp.auto_bf16_on(avx512_bf16) and mlp.auto_bf16_on(amx)
    assert cnn.auto_bf16_on(amx) and not cnn.auto_bf16_on(avx512_bf16)
    assert not mlp.auto_bf16_on(frozenset({"avx2"})) and not cnn.auto_bf16_on(frozenset())


@pytest.mark.parametrize("flags", ["this CPU's", "AVX-512 bf16 without AMX"])
def test_auto_trains_each_network_as_the_table_says(
    flags, monkeypatch, train_split, small_test
) -> None:
    if flags != "this CPU's":
        monkeypatch.setattr(train_module, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    here = train_module.cpu_flags()
    for key in ("mlp", "cnn"):
        cfg = TrainConfig(model=key, subset=200, epochs=1, eval_every=0, threads=1, device="cpu")
        used = train(cfg, train_split=train_split, test_split=small_test).precision
        allowed = networks.get(key).auto_bf16_on(here)
        assert used == (cpu.training_precision("auto", "cpu") if allowed else "fp32"), key


def test_the_command_line_takes_a_precision(capsys) -> None:
    argv = ["train", "--model", "mlp", "--subset", "300", "--epochs", "1", "--threads", "1"]
    cli.main([*argv, "--precision", "bf16", "--json"])
    assert json.loads(capsys.readouterr().out)["precision"] == "bf16"
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--precision", "fp16"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "--precision" in err
