"""Knowledge distillation: a small student trained on a large teacher's softened outputs.

Hinton et al.'s loss mixes the usual cross-entropy on the labels with the KL divergence
between the teacher's and the student's distributions at temperature T:

    L = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(z_s, y).

The gradient of the KL term with respect to the student's logits is (p_s - p_t) / T, which
for large T is about (z_s - z_t) / (K T^2) for K classes: the T^2 factor keeps its size
independent of T, so alpha means the same thing at every temperature.

``train_classifier`` is the one training loop for both arms of the comparison (the student
with a teacher, the same student alone with ``teacher=None``): same batches, same optimizer,
same seed. ``training_flops`` is the compute accounting of either arm.

    student = train_classifier(make_student(), (x, y), teacher=teacher, temperature=4, alpha=0.9)
"""

from __future__ import annotations

__all__ = ["distillation_loss", "forward_flops", "train_classifier", "training_flops"]


def distillation_loss(student_logits, teacher_logits, labels, temperature: float = 4.0, alpha: float = 0.9):
    """alpha * T^2 * KL(p_teacher^T || p_student^T) + (1 - alpha) * cross-entropy(student, labels)."""
    import torch.nn.functional as F

    if not temperature > 0:
        raise ValueError(f"temperature must be positive; got {temperature!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha weighs the soft term against the labels, in [0, 1]; got {alpha!r}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student and teacher logits must have the same shape (batch, classes); got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    t = float(temperature)
    # F.kl_div takes log-probabilities of the model and (log-)probabilities of the target
    soft = F.kl_div(F.log_softmax(student_logits / t, -1), F.log_softmax(teacher_logits.detach() / t, -1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * t * t * soft + (1.0 - alpha) * hard


def train_classifier(model, train, *, teacher=None, temperature: float = 4.0, alpha: float = 0.9, epochs: int = 8,
                     batch_size: int = 32, lr: float = 1e-3, seed: int = 0):
    """Train ``model`` with Adam on ``train = (x, y)`` (arrays); with a ``teacher``, on
    :func:`distillation_loss`, else on plain cross-entropy. Returns the model in eval mode."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from labs.seed import seed_everything

    x, y = (torch.as_tensor(np.asarray(a)) for a in train)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    seed_everything(seed)
    order = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if teacher is not None:
        teacher.eval()
    model.train()
    for _ in range(epochs):
        for idx in np.array_split(order.permutation(len(x)), max(1, len(x) // batch_size)):
            xb, yb = x[idx], y[idx]
            logits = model(xb)
            if teacher is None:
                loss = F.cross_entropy(logits, yb)
            else:
                with torch.no_grad():
                    teacher_logits = teacher(xb)
                loss = distillation_loss(logits, teacher_logits, yb, temperature, alpha)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def forward_flops(model, x) -> int:
    """FLOPs of one forward pass on ``x`` (a multiply-add counts 2), by PyTorch's FLOP counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def training_flops(student_forward: float, examples: int, epochs: int, *, teacher_forward: float = 0.0,
                   teacher_epochs: int = 0, backward_ratio: float = 2.0) -> dict:
    """Training compute of a student, alone or distilled, in FLOPs.

    A training step costs a forward pass plus a backward pass of about ``backward_ratio`` = 2
    forwards (one product for the input gradient, one for the weight gradient). Distillation
    adds the teacher's own training and one teacher forward per student example per epoch:

        alone     = (1 + r) * F_s * N * E_s
        distilled = (1 + r) * F_t * N * E_t  +  F_t * N * E_s  +  (1 + r) * F_s * N * E_s
    """
    for name, value in (("student_forward", student_forward), ("teacher_forward", teacher_forward)):
        if value < 0:
            raise ValueError(f"{name} is a FLOP count and cannot be negative; got {value}")
    step = 1.0 + backward_ratio
    student = step * student_forward * examples * epochs
    teacher_training = step * teacher_forward * examples * teacher_epochs
    teacher_labels = teacher_forward * examples * epochs
    return {"student_training": student, "teacher_training": teacher_training, "teacher_labels": teacher_labels,
            "total": student + teacher_training + teacher_labels}
