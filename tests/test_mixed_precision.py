"""labs.mixed_precision: the formats' limits match IEEE/bfloat16, and loss scaling rescues underflowing gradients."""

import torch

from labs.mixed_precision import format_limits, zero_gradient_fraction


def test_format_limits():
    lim = format_limits()
    assert lim["float16"]["max"] == 65504.0 and lim["float16"]["subnormal"] == 2.0 ** -24
    assert lim["bfloat16"]["eps"] == 2.0 ** -7 and lim["bfloat16"]["max"] > 3e38
    assert torch.tensor(lim["float16"]["subnormal"] / 2, dtype=torch.float16).item() == 0.0


def test_grad_scaler_rescues_small_gradients():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    def tiny(out, target):
        return torch.nn.functional.cross_entropy(out.float(), target) * 2.0 ** -30
    unscaled = zero_gradient_fraction(model, tiny, x, y)
    scaled = zero_gradient_fraction(model, tiny, x, y, scaler=torch.amp.GradScaler("cpu", init_scale=2.0 ** 24))
    assert unscaled > 0.5 and scaled < 0.05
    reference = zero_gradient_fraction(model, tiny, x, y, dtype=torch.bfloat16)  # bf16 keeps float32's range
    assert reference < 0.05
