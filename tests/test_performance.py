"""Fast CPU training by default: bf16 autocast where the CPU has native bf16, glibc malloc tuning, and the
switches that turn them off."""

import subprocess
import sys
import textwrap

import pytest

from hf_pricer import PricerTrainingArguments, performance


def args(tmp_path, **kwargs):
    return PricerTrainingArguments(output_dir=str(tmp_path), report_to="none", **kwargs)


@pytest.mark.parametrize("native", [True, False])
def test_bf16_defaults_on_for_cpu_training_only_with_native_bf16(tmp_path, monkeypatch, native):
    monkeypatch.setattr(performance, "cpu_has_native_bf16", lambda: native)
    resolved = args(tmp_path, use_cpu=True)
    assert resolved.bf16 is native
    assert resolved.use_cpu


def test_cpu_defaults_follow_the_switches(tmp_path, monkeypatch):
    monkeypatch.setattr(performance, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(performance, "malloc_tunable", lambda: True)
    assert (args(tmp_path, use_cpu=True).bf16, args(tmp_path, use_cpu=True).tune_malloc) == (True, True)
    off = args(tmp_path, use_cpu=True, fast_cpu_defaults=False)
    assert (off.bf16, off.tune_malloc) == (False, False)
    assert args(tmp_path, use_cpu=True, bf16=False).bf16 is False
    assert args(tmp_path, use_cpu=True, tune_malloc=False).tune_malloc is False
    # a value given is kept even with the defaults off
    assert args(tmp_path, use_cpu=True, fast_cpu_defaults=False, bf16=True).bf16 is True
    # transformers' default optimizer is already the fused AdamW
    assert args(tmp_path, use_cpu=True).optim == "adamw_torch_fused"


def test_cpu_defaults_leave_non_glibc_malloc_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(performance, "malloc_tunable", lambda: False)
    assert args(tmp_path, use_cpu=True).tune_malloc is False


def test_cpu_has_native_bf16_reads_the_cpu_flags():
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        flags = handle.read()
    assert performance.cpu_has_native_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


# In a fresh process (mallopt cannot be undone): train one step with tune_malloc off, then on, and after each see
# whether a 64 MiB tensor is served by a fresh mmap (glibc's default) or from the heap (tuned). `mallinfo2().hblkhd`
# is the bytes glibc holds in mmap'd blocks.
MALLOC_PROBE = textwrap.dedent(
    """
    import ctypes, ctypes.util, json, sys
    import torch
    from datasets import Dataset
    import hf_pricer
    from hf_pricer import performance

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = MallInfo2

    def mmapped_bytes_of_a_new_tensor():
        before = libc.mallinfo2().hblkhd
        tensor = torch.ones(16 * 1024 * 1024)  # 64 MiB
        grown = libc.mallinfo2().hblkhd - before
        del tensor
        return grown

    def train(tune_malloc):
        config = hf_pricer.ResidualRegressorConfig(num_features=64, num_layers=3, hidden_size=16)
        items = Dataset.from_list([{"title": f"item {i}", "text": "steel kettle", "price": 5.0 + i} for i in range(8)])
        args = hf_pricer.PricerTrainingArguments(output_dir=sys.argv[1], use_cpu=True, report_to="none", max_steps=1,
                                                 save_strategy="no", disable_tqdm=True, tune_malloc=tune_malloc)
        trainer = hf_pricer.PricerTrainer(
            model=hf_pricer.ResidualRegressorForPriceRegression(config), args=args, train_dataset=items,
            data_collator=hf_pricer.ResidualRegressorCollator(hf_pricer.ResidualRegressorProcessor(n_features=64)))
        trainer.train()
        return args.tune_malloc

    result = {"off": train(False), "off_mmapped": mmapped_bytes_of_a_new_tensor(), "off_tuned": performance.malloc_tuned()}
    result.update({"default": train(None), "default_mmapped": mmapped_bytes_of_a_new_tensor(),
                   "default_tuned": performance.malloc_tuned()})
    print(json.dumps(result))
    """
)


@pytest.mark.skipif(not performance.malloc_tunable(), reason="glibc's mallopt only")
def test_tune_malloc_is_applied_when_training_starts_and_only_then(tmp_path):
    import json

    result = subprocess.run([sys.executable, "-c", MALLOC_PROBE, str(tmp_path)], capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["off"] is False and not probe["off_tuned"]
    assert probe["off_mmapped"] >= 64 * 1024 * 1024  # glibc's default: a fresh mmap for a large block
    assert probe["default"] is True and probe["default_tuned"]
    assert probe["default_mmapped"] == 0  # tuned: served from the heap
