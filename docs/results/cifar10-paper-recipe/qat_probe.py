"""QAT of one DNN seed on CIFAR-10 by PyTorch's own eager path, outside minarch's engine.

The record's QAT from scratch (minarch's stacked fake quantization and fused Adam) ended at
chance for some wide `L4eee` seeds. This script asks whether PyTorch's eager QAT does the same
from the same start: the seed's initial weights (``models.seeded``), ``quantize.prepare``'s
model (the default qnnpack QAT qconfig, scope ``full``), ``torch.optim.Adam`` at the recipe's
learning rate, batch 100 and the seed's data order (``torch.randperm`` from a generator seeded
with the seed, as ``train.fit_stack`` draws it). ``--off weights`` or ``--off activations``
switches one kind of fake quantization (and its observers) off.

    python qat_probe.py CIFAR10_NPZ L4eee 500 0 --epochs 2 [--off weights|activations]

prints the training loss every 50 steps and the validation loss and accuracy (fake-quant model,
observers frozen) after each epoch.
"""

import argparse
import time

import torch
import torch.ao.quantization as tq
import torch.nn.functional as F

from minarch import models, quantize, stages
from minarch.settings import TrainSettings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", help="the dataset cache, e.g. resources/datasets/cifar10.npz")
    parser.add_argument("topology")
    parser.add_argument("width", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--off", choices=("weights", "activations"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = TrainSettings()
    splits = stages.splits_for("dnn", args.dataset, settings)
    qat = quantize.prepare(models.seeded(args.seed, "dnn", args.topology, args.width, splits.image_shape))
    observed = []  # the fake-quant points left on, whose observers run while training
    for name, module in qat.named_modules():
        if not isinstance(module, tq.FakeQuantizeBase):
            continue
        if args.off and name.endswith("weight_fake_quant") == (args.off == "weights"):
            module.disable_fake_quant()
            module.disable_observer()
        else:
            observed.append(module)
    optimizer = torch.optim.Adam(qat.parameters(), lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(args.seed)
    n, batch = len(splits.y_train), settings.batch_size
    for epoch in range(1, args.epochs + 1):
        started, losses = time.time(), []
        qat.train()
        order = torch.randperm(n, generator=generator)
        for step, start in enumerate(range(0, n, batch)):
            index = order[start : start + batch]
            loss = F.cross_entropy(qat(splits.x_train[index]), splits.y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}: training loss {loss.item():.3f}", flush=True)
        qat.eval()
        for module in observed:
            module.disable_observer()
        with torch.no_grad():
            logits = qat(splits.x_val)
        for module in observed:
            module.enable_observer()
        val_loss = F.cross_entropy(logits, splits.y_val).item()
        val_acc = 100.0 * (logits.argmax(1) == splits.y_val).float().mean().item()
        print(
            f"epoch {epoch}: training loss mean {sum(losses) / len(losses):.3f}, max {max(losses):.1f}; "
            f"validation loss {val_loss:.3f}, accuracy {val_acc:.2f}% ({time.time() - started:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
