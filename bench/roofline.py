"""The roofline of a network's training: its FLOPs per image, and the rate its own matrix
products and convolutions reach here at its own shapes, alone, in a given precision.

Used by bench_train.py. A network's layers (nn.Linear, nn.Conv2d) are found by running
one batch through it with hooks; each layer then becomes the products a training step
runs for it, in the layout and dtype training uses (channels_last for the ConvNet; bf16
as autocast casts them): the forward product, the weight gradient, and the input
gradient for every layer but the first (the images need none). FLOPs are counted by
torch's FlopCounterMode, for the network and for those products alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mnist_models.nets import networks


def network_flops(model: str, batch: int = 64) -> dict:
    """FLOPs per image of a network's forward pass and of a training step (forward and
    backward), counted by FlopCounterMode (matrix products and convolutions)."""
    net = networks.get(model).build()
    x = torch.rand(batch, 1, 28, 28)
    with FlopCounterMode(display=False) as fwd:
        net(x)
    with FlopCounterMode(display=False) as step:
        net(x).sum().backward()
    return {"forward": fwd.get_total_flops() / batch, "step": step.get_total_flops() / batch}


def _layer_inputs(model: str, batch: int) -> list[tuple[nn.Module, torch.Size]]:
    """(layer, input shape) of every nn.Linear and nn.Conv2d, in forward order."""
    net = networks.get(model).build()
    seen: list[tuple[nn.Module, torch.Size]] = []
    hooks = [
        m.register_forward_hook(lambda m, args, out: seen.append((m, args[0].shape)))
        for m in net.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    ]
    with torch.no_grad():
        net(torch.rand(batch, 1, 28, 28))
    for h in hooks:
        h.remove()
    return seen


def step_products(model: str, batch: int, dtype: torch.dtype) -> list[Callable[[], object]]:
    """The matrix products and convolutions of one training step of `model` at `batch`,
    as closures over random tensors of the right shapes, layout and dtype."""
    fmt = networks.get(model).memory_format
    g = torch.Generator().manual_seed(0)

    def rand(*shape: int, conv: bool = False) -> torch.Tensor:
        t = torch.randn(*shape, generator=g).to(dtype)
        return t.contiguous(memory_format=fmt) if conv and fmt != torch.contiguous_format else t

    ops: list[Callable[[], object]] = []
    for i, (layer, shape) in enumerate(_layer_inputs(model, batch)):
        grad_in = i > 0
        if isinstance(layer, nn.Linear):
            x = rand(batch, layer.in_features)
            w, b = rand(layer.out_features, layer.in_features), rand(layer.out_features)
            grad = rand(batch, layer.out_features)
            ops += [lambda x=x, w=w, b=b: torch.addmm(b, x, w.t())]
            ops += [lambda x=x, grad=grad: torch.mm(grad.t(), x)]
            if grad_in:
                ops.append(lambda w=w, grad=grad: torch.mm(grad, w))
            continue
        x = rand(*shape, conv=True)
        w, b = rand(*layer.weight.shape, conv=True), rand(layer.out_channels)
        kw = {"stride": layer.stride, "padding": layer.padding, "dilation": layer.dilation}
        out = F.conv2d(x, w, b, groups=layer.groups, **kw)
        grad = rand(*out.shape, conv=True)
        ops.append(
            lambda x=x, w=w, b=b, kw=kw, grp=layer.groups: F.conv2d(x, w, b, groups=grp, **kw)
        )
        ops.append(
            lambda x=x, w=w, grad=grad, layer=layer, grad_in=grad_in: (
                torch.ops.aten.convolution_backward(
                    grad,
                    x,
                    w,
                    [layer.out_channels],
                    list(layer.stride),
                    list(layer.padding),
                    list(layer.dilation),
                    False,
                    [0, 0],
                    layer.groups,
                    [grad_in, True, True],
                )
            )
        )
    return ops


def products_flops(ops: list[Callable[[], object]]) -> int:
    """FLOPs of one pass over ops, as FlopCounterMode counts them."""
    with FlopCounterMode(display=False) as counter:
        for op in ops:
            op()
    return counter.get_total_flops()


def peak_rate(model: str, batch: int, dtype: torch.dtype, seconds: float = 2.0) -> dict:
    """FLOP/s of a network's own training products here: best and median of 5-step rounds,
    and the FLOPs per image they stand for (to check against network_flops)."""
    ops = step_products(model, batch, dtype)
    flop = products_flops(ops)
    for op in ops:  # warm-up: kernels chosen, memory touched
        op()
    rates = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        t0 = time.perf_counter()
        for _ in range(5):
            for op in ops:
                op()
        rates.append(5 * flop / (time.perf_counter() - t0))
    return {
        "batch": batch,
        "dtype": str(dtype).removeprefix("torch."),
        "flop_per_image": flop / batch,
        "flop_per_s": max(rates),
        "median_flop_per_s": statistics.median(rates),
    }
