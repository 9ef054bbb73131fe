"""The baseline minarch is measured against: one (configuration, seed) trained the way the
paper's code would typically be written, in its own Python process.

- A torchvision-style dataset over the uint8 arrays (``torchvision.datasets.MNIST`` turns each
  item into a PIL image and applies the transform; its downloaders need internet, so the
  same is done here over the offline ``.npz``): ``ToTensor()`` + ``Normalize(0.5, 0.5)``
  per image.
- ``DataLoader(batch_size=100, shuffle=True)`` for training; evaluation loaders with
  ``batch_size=1000`` (kinder to the baseline than 100) over the validation and test sets.
- 90/10 train/validation split (``random_split``, fixed generator), the paper's recipe:
  Adam lr 1e-3, cross-entropy, up to ``--epochs`` epochs, early stopping on validation loss
  with patience 5, evaluation on validation and test every epoch, the best epoch's weights
  kept and their test accuracy reported.
- The MLP: ReLU hidden layers ``--hidden``, He-normal weights, zero biases (as minarch).

One torch thread by default (``--threads``): the sweep runs several of these processes at
once, as Snakemake runs minarch's jobs with ``train.threads: 1``.

    .venv/bin/python benchmarks/paper_style.py --data resources/datasets/mnist.npz --hidden 10 --seed 0 --epochs 2

prints one JSON line: final test accuracy, best/stopped epoch, per-epoch history and the
seconds spent importing, loading data and training (the process start as a whole is timed
by the caller, ``sweep_speed.py``).
"""

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torchvision.transforms as transforms  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset, random_split  # noqa: E402

IMPORTED = time.perf_counter()


class NpzImageDataset(Dataset):
    """``torchvision.datasets.MNIST``/``CIFAR10``'s ``__getitem__`` over in-memory uint8 arrays."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = self.images[index]
        image = Image.fromarray(image, mode="L" if image.ndim == 2 else "RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


class MLP(nn.Module):
    def __init__(self, input_dim, hidden, num_classes=10):
        super().__init__()
        layers = [nn.Flatten()]
        sizes = [input_dim] + list(hidden)
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], num_classes))
        self.net = nn.Sequential(*layers)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / module.in_features))
                nn.init.zeros_(module.bias)

    def forward(self, x):
        return self.net(x)


def evaluate(model, loader, criterion):
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            outputs = model(images)
            total_loss += criterion(outputs, labels).item() * labels.size(0)
            correct += (outputs.argmax(1) == labels).sum().item()
            count += labels.size(0)
    return total_loss / count, 100.0 * correct / count


def main():
    parser = argparse.ArgumentParser(description="paper-style baseline: one run per process")
    parser.add_argument("--data", required=True, help=".npz with x_train, y_train, x_test, y_test (uint8)")
    parser.add_argument("--hidden", type=int, nargs="+", required=True, help="hidden layer widths")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    with np.load(args.data) as archive:
        arrays = {name: archive[name] for name in ("x_train", "y_train", "x_test", "y_test")}
    channels = 1 if arrays["x_train"].ndim == 3 else 3
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * channels, (0.5,) * channels)])
    full_train = NpzImageDataset(arrays["x_train"], arrays["y_train"], transform)
    test_set = NpzImageDataset(arrays["x_test"], arrays["y_test"], transform)
    n_val = int(round(0.1 * len(full_train)))
    train_set, val_set = random_split(
        full_train, [len(full_train) - n_val, n_val], generator=torch.Generator().manual_seed(0)
    )
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=1000, shuffle=False)
    test_loader = DataLoader(test_set, batch_size=1000, shuffle=False)
    input_dim = int(np.prod(arrays["x_train"].shape[1:]))
    loaded = time.perf_counter()

    model = MLP(input_dim, args.hidden)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    best_loss, best_epoch, stopped_epoch = float("inf"), 0, 0
    best_state = copy.deepcopy(model.state_dict())
    history = []
    for epoch in range(1, args.epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        running_loss, correct, count = 0.0, 0, 0
        for images, labels in train_loader:
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * labels.size(0)
            correct += (outputs.argmax(1) == labels).sum().item()
            count += labels.size(0)
        val_loss, val_acc = evaluate(model, val_loader, criterion)
        test_loss, test_acc = evaluate(model, test_loader, criterion)
        history.append(
            {
                "epoch": epoch,
                "train_loss": running_loss / count,
                "train_acc": 100.0 * correct / count,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "seconds": time.perf_counter() - epoch_started,
            }
        )
        stopped_epoch = epoch
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= args.patience:
            break
    model.load_state_dict(best_state)
    test_loss, test_acc = evaluate(model, test_loader, criterion)
    done = time.perf_counter()
    n_params = sum(p.numel() for p in model.parameters())
    print(
        json.dumps(
            {
                "hidden": args.hidden,
                "seed": args.seed,
                "n_params": n_params,
                "test_acc": test_acc,
                "test_loss": test_loss,
                "best_epoch": best_epoch,
                "stopped_epoch": stopped_epoch,
                "history": history,
                "seconds": {
                    "import": IMPORTED - STARTED,
                    "data": loaded - IMPORTED,
                    "train": done - loaded,
                    "in_process": done - STARTED,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
