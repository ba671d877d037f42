"""The course's training loop: history fields, determinism, learning, both backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.train import History, Metrics, evaluate, fit, predict


def _toy(n=320, seed=0):
    """A learnable toy problem: the class is which of two noisy linear scores is larger."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 2] > 0).astype(np.int64)
    return x, y


def _torch_mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def _scratch_mlp(seed=0):
    scratch = pytest.importorskip("labs.scratch")
    scratch.manual_seed(seed)
    nn = scratch.nn
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))


BUILDERS = {"torch": _torch_mlp, "numpy": _scratch_mlp}


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_history_fields(backend):
    x, y = _toy()
    model = BUILDERS[backend]()
    h = fit(model, (x[:256], y[:256]), (x[256:], y[256:]), epochs=3, batch_size=50, lr=1e-2, progress=False)
    assert isinstance(h, History)
    assert h.backend == backend
    assert h.epochs == 3 and len(h.train_loss) == 3 and len(h.epoch_time) == 3
    assert h.steps == 3 * 6 and len(h.step_loss) == h.steps  # ceil(256 / 50) = 6 steps per epoch
    assert h.samples_seen == 3 * 256
    assert len(h.val_loss) == len(h.val_accuracy) == 3
    assert h.val_step == [6, 12, 18] and h.val_epoch == [1.0, 2.0, 3.0]
    assert all(0.0 <= a <= 1.0 for a in h.val_accuracy)
    assert all(np.isfinite(h.step_loss)) and h.time_s > 0
    # the epoch mean is the batch-size-weighted mean of that epoch's step losses
    sizes = [50] * 5 + [6]
    assert h.train_loss[0] == pytest.approx(np.average(h.step_loss[:6], weights=sizes), rel=1e-6)
    assert "val accuracy" in h.summary()


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_same_seed_same_losses(backend):
    x, y = _toy()
    runs = [fit(BUILDERS[backend](seed=1), (x, y), epochs=2, batch_size=32, lr=1e-2, seed=5, progress=False)
            for _ in range(2)]
    assert runs[0].step_loss == runs[1].step_loss
    other = fit(BUILDERS[backend](seed=1), (x, y), epochs=2, batch_size=32, lr=1e-2, seed=6, progress=False)
    assert other.step_loss != runs[0].step_loss  # the seed really drives the shuffle


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_loss_decreases_and_accuracy_rises(backend):
    x, y = _toy(n=600)
    model = BUILDERS[backend]()
    before = evaluate(model, (x[500:], y[500:]))
    h = fit(model, (x[:500], y[:500]), (x[500:], y[500:]), epochs=8, batch_size=32, lr=1e-2, progress=False)
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    after = evaluate(model, (x[500:], y[500:]))
    assert isinstance(after, Metrics) and after.count == 100
    assert after.loss < before.loss and after.accuracy > 0.9
    assert after.accuracy == pytest.approx(h.val_accuracy[-1])
    logits = predict(model, x[500:])
    assert logits.shape == (100, 2)
    assert np.mean(logits.argmax(1) == y[500:]) == pytest.approx(after.accuracy)


def test_numpy_and_torch_twins_train_identically():
    """Same weights, same shuffled batches, same Adam: the two loops give the same losses.

    In float64, so that the test compares the code, not the machine: in float32 Adam
    amplifies the first step's last-digit differences by an amount that depends on the
    CPU and the NumPy version (issue 9: 2e-7 grew to 2e-2 over 80 steps on one machine).
    """
    x, y = _toy()
    t_model = _torch_mlp(seed=3)
    s_model = _scratch_mlp()
    s_model.load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})
    t_model.double()
    s_model.double()
    kwargs = dict(epochs=3, batch_size=32, lr=1e-2, progress=False, seed=7)
    h_t = fit(t_model, (x, y), (x, y), **kwargs)
    h_s = fit(s_model, (x, y), (x, y), **kwargs)
    assert h_t.steps == h_s.steps == 30
    np.testing.assert_allclose(h_s.step_loss, h_t.step_loss, rtol=1e-10, atol=1e-12)
    assert h_s.val_accuracy == h_t.val_accuracy
    for key, value in t_model.state_dict().items():
        assert value.dtype == torch.float64 and s_model.state_dict()[key].dtype == np.float64
        np.testing.assert_allclose(s_model.state_dict()[key], value.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_data_takes_the_model_dtype(backend):
    x, y = _toy(n=64)
    single = fit(BUILDERS[backend](), (x.astype(np.float64), y), epochs=1, batch_size=32, lr=1e-2, progress=False)
    model = BUILDERS[backend]().double()
    double = fit(model, (x, y), (x, y), epochs=1, batch_size=32, lr=1e-2, progress=False)
    # float64 data feeds a float32 model as float32, float32 data a float64 model as float64
    assert float(np.float32(single.step_loss[0])) == single.step_loss[0]
    assert float(np.float32(double.step_loss[0])) != double.step_loss[0]
    assert predict(model, x).dtype == np.float64
    assert evaluate(model, (x, y)).count == 64


def test_evaluation_schedule_and_max_steps():
    x, y = _toy()
    h = fit(_torch_mlp(), (x, y), (x, y), epochs=5, batch_size=64, eval_every=3, max_steps=7, progress=False)
    assert h.steps == 7 and len(h.step_loss) == 7
    assert h.val_step == [3, 5, 6, 7]  # every 3 steps, plus the end of epoch 1 (5 steps) and the stop
    assert h.epochs == 2


def test_sequence_targets_and_dataloader():
    """A language-model shape: (B, T, V) logits against (B, T) tokens, fed by a DataLoader."""
    rng = np.random.default_rng(0)
    vocab = 5
    tokens = rng.integers(0, vocab, size=(64, 9))
    x, y = torch.as_tensor(tokens[:, :-1]), torch.as_tensor((tokens[:, :-1] + 1) % vocab)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(vocab, 16), torch.nn.Linear(16, vocab))
    h = fit(model, loader, loader, epochs=15, lr=3e-2, progress=False)
    assert h.steps == 15 * 4
    assert h.val_accuracy[-1] == 1.0  # next token = token + 1 is learnable exactly
    assert evaluate(model, (x, y)).accuracy == 1.0


def test_regression_reports_no_accuracy():
    x, _ = _toy()
    target = (x @ np.arange(6, dtype=np.float32))[:, None]
    torch.manual_seed(0)
    h = fit(torch.nn.Linear(6, 1), (x, target), (x, target), epochs=30, lr=5e-2, progress=False)
    assert h.val_accuracy[-1] is None and h.val_loss[-1] < 0.01 * h.val_loss[0]


def test_bad_input_messages():
    x, y = _toy()
    with pytest.raises(ValueError, match="same first dimension"):
        fit(_torch_mlp(), (x, y[:-1]), progress=False)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        fit(_torch_mlp(), (x, y), epochs=0, progress=False)
    with pytest.raises(TypeError, match=r"\(x, y\) pair"):
        fit(_torch_mlp(), 42, progress=False)
    with pytest.raises(ValueError, match="not both"):
        model = _torch_mlp()
        fit(model, (x, y), lr=0.1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    with pytest.raises(ValueError, match="optimizer must be"):
        fit(_torch_mlp(), (x, y), optimizer="adamx", progress=False)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fit(object(), (x, y), progress=False)


def test_history_plot_runs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = _toy()
    h = fit(_torch_mlp(), (x, y), (x, y), epochs=2, progress=False)
    fig = h.plot(title="toy")
    assert len(fig.axes) == 2
    plt.close(fig)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_no_batches_is_a_clear_error(backend):
    import labs.scratch.nn as snn

    model = torch.nn.Linear(3, 2) if backend == "torch" else snn.Linear(3, 2)
    x, y = np.zeros((5, 3), np.float32), np.zeros(5, np.int64)
    with pytest.raises(ValueError, match="gave no batches"):
        fit(model, (x, y), epochs=1, batch_size=10, drop_last=True, lr=0.1, progress=False)


# --------------------------------------------------------------------------- warm-up + cosine schedule


def _logging_optimizer(backend, lrs):
    """A factory for SGD that records the learning rate each step used."""
    if backend == "torch":
        base = torch.optim.SGD
    else:
        from labs.scratch import optim

        base = optim.SGD

    class Logged(base):
        def step(self, *args, **kwargs):
            lrs.append(self.param_groups[0]["lr"])
            return super().step(*args, **kwargs)

    return lambda params: Logged(params, lr=0.2)


def _reference_warmup_cosine(steps, warmup, floor):
    """torch's LambdaLR with the schedule written out here, independently of labs.fit_common."""
    def factor(s):
        if s < warmup:
            return (s + 1) / warmup
        progress = min(1.0, (s - warmup) / max(1, steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * progress))

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("warmup,floor", [(4, 0.1), (0, 0.0), (1, 0.5)])
def test_warmup_cosine_same_in_both_loops_and_as_torch_lambda_lr(warmup, floor):
    x, y = _toy()
    seen = {}
    for backend in ["torch", "numpy"]:
        seen[backend] = []
        fit(BUILDERS[backend](), (x, y), epochs=2, batch_size=32, optimizer=_logging_optimizer(backend, seen[backend]),
            scheduler="warmup_cosine", warmup_steps=warmup, min_lr_ratio=floor, progress=False)
    expected = _reference_warmup_cosine(20, warmup, floor)
    assert len(seen["torch"]) == len(seen["numpy"]) == 20
    np.testing.assert_allclose(seen["torch"], expected, rtol=1e-12)
    np.testing.assert_allclose(seen["numpy"], expected, rtol=1e-12)
    if warmup > 1:
        assert seen["numpy"][0] == pytest.approx(0.2 / warmup)  # the ramp really starts small
    assert seen["numpy"][-1] >= 0.2 * floor


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_schedule_arguments_are_checked(backend):
    x, y = _toy()
    model = BUILDERS[backend]()
    with pytest.raises(ValueError, match="needs warmup_steps"):
        fit(model, (x, y), scheduler="warmup_cosine", progress=False)
    with pytest.raises(ValueError, match="would be ignored"):
        fit(model, (x, y), scheduler="cosine", warmup_steps=3, progress=False)
    with pytest.raises(ValueError, match=r"warmup_steps must be in \[0, 10\]"):
        fit(model, (x, y), batch_size=32, scheduler="warmup_cosine", warmup_steps=11, progress=False)
    with pytest.raises(ValueError, match="min_ratio"):
        fit(model, (x, y), scheduler="warmup_cosine", warmup_steps=1, min_lr_ratio=1.5, progress=False)
    with pytest.raises(ValueError, match="warmup_cosine"):
        fit(model, (x, y), scheduler="linear", progress=False)


# --------------------------------------------------------------------------- import graph


def _modules_after_import(module: str) -> set[str]:
    import subprocess
    import sys

    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(out.stdout.split())


def test_numpy_engine_imports_nothing_from_the_torch_side():
    """No module of labs.scratch (its models and training loop included) loads torch or the torch loop."""
    import pkgutil

    import labs.scratch

    names = sorted(m.name for m in pkgutil.walk_packages(labs.scratch.__path__, "labs.scratch."))
    assert {"labs.scratch.train", "labs.scratch.nn.module", "labs.scratch.models.char_lm"} <= set(names)
    loaded = _modules_after_import(", ".join(names))
    assert set(names) <= loaded  # the probe really imported every module
    torch_side = {m for m in loaded if m == "torch" or m.startswith("torch.") or m == "labs.train"}
    assert not torch_side, f"labs.scratch imported the torch side: {sorted(torch_side)}"


def test_shared_training_module_is_backend_neutral():
    loaded = _modules_after_import("labs.fit_common")
    assert not {m for m in loaded if m == "torch" or m.startswith(("torch.", "labs.scratch", "labs.train"))}


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_foreach_optimizers_give_the_numbers_of_the_loop(name):
    """fit and labs.finetune pick foreach on the CPU for speed (foreach_for); the docstring's claim:
    the same parameters as PyTorch's per-tensor loop, step after step. In float64, so that "the same"
    means the same arithmetic up to rounding on any PyTorch version (bitwise in the pinned one)."""
    from labs.train import foreach_for

    def trained(foreach):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.GELU(), torch.nn.LayerNorm(16),
                                    torch.nn.Linear(16, 3)).double()
        opt = getattr(torch.optim, name)(model.parameters(), lr=5e-3, weight_decay=0.01, foreach=foreach)
        x, y = torch.randn(64, 6, dtype=torch.float64), torch.randint(0, 3, (64,))
        for _ in range(50):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
        return [p.detach().clone() for p in model.parameters()]

    params = list(torch.nn.Linear(2, 2).parameters())
    assert foreach_for(params) is True and foreach_for([]) is None
    assert all(torch.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(trained(False), trained(foreach_for(params))))
