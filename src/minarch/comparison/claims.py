"""What the paper says: its run (Sec. III-C) and every quantitative claim, one compact row each.

A row (``Row``) names the claim once with the datasets it covers, each with its ``Check``
(``minarch.comparison.checks``: the rule, the words of the rule and of the measurement, the
paper's value); it expands to one ``Claim`` per dataset. In a row's text, ``{d}`` (in the id)
is the dataset's short name, ``{name}`` the dataset as the paper names it, ``{paper}`` the
paper's value and ``{check.x}`` a number of the dataset's check. A row's ``how`` replaces the
check's words of the measurement; ``then`` words it for the row's later datasets (the
criterion follows only where it differs from the first dataset's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minarch.comparison.checks import (
    AccuracyAt,
    Across,
    At,
    AtLeast,
    Check,
    GapBound,
    GapRange,
    Largest,
    MinParams,
    MinParamsPerDepth,
    MinStableWidth,
    Neighbours,
    Outcome,
    PruningSummary,
    Rises,
    RisesThroughout,
    TableCell,
    TopOfSweep,
    Trend,
    WidthsIn,
    gap_grows_on_cifar,
    grows_with_complexity,
    qat_more_robust_than_ptq,
    shape_invariance,
    vit_gap_negative,
)
from minarch.comparison.run import Run, family, sci, title
from minarch.tables import PAPER_TABLE1

# The paper's run (Sec. III-C): 20 epochs; 30 seeds for DNNs, 10 for CNNs and ViTs; the DNN
# width grid as listed, CNN channels "between 1 and 32" and ViT dimensions "between 1 and 16"
# (their exact grids are not stated).
PAPER_EPOCHS = 20
PAPER_SEEDS = {"dnn": 30, "cnn": 10, "vit": 10}
PAPER_DNN_WIDTHS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000)
PAPER_WIDTH_RANGE = {"dnn": (1, 1000), "cnn": (1, 32), "vit": (1, 16)}

TOPICS = ("stability", "accuracy", "pruning", "quantization", "phase1")  # each orders its likely reasons
# how the claims' ids abbreviate a dataset, and how the paper's text names it
_NAMES = {"mnist": ("mnist", "MNIST"), "fashion_mnist": ("fmnist", "Fashion-MNIST"), "cifar10": ("cifar", "CIFAR-10")}


@dataclass(frozen=True)
class Claim:
    """One claim of the paper about one family and dataset (either may be None: the whole run)."""

    id: str
    section: str
    topic: str  # one of TOPICS
    claim: str  # in our words
    check: Check = field(repr=False)
    arch: str | None = None
    dataset: str | None = None
    paper: str | None = None  # the paper's value or range; the check's statement of it unless given
    how: str | None = None  # the measurement in words; the check's unless given

    def __post_init__(self):
        paper = self.paper if self.paper is not None else self.check.paper(self.arch)
        if paper is None:
            raise ValueError(f"claim {self.id}: its check states no paper value; give paper=")
        object.__setattr__(self, "paper", paper)

    @property
    def criterion(self) -> str:
        """The agreement rule in words (from the constants as they are now)."""
        return self.check.criterion(self.arch, self.dataset)

    @property
    def measure(self) -> str:
        """How we measure it, with the agreement criterion."""
        how = self.how if self.how is not None else self.check.how(self.arch, self.dataset)
        return how.format(dataset=title(self.dataset) if self.dataset is not None else "", criterion=self.criterion)

    def outcome(self, run: Run) -> Outcome:
        return self.check.judge(run, self.arch, self.dataset)


@dataclass(frozen=True)
class Row:
    """One claim for each dataset of ``checks`` (None: a claim about the whole run)."""

    id: str
    section: str
    topic: str
    arch: str | None
    checks: dict[str | None, Check]
    claim: str
    paper: str | None = None
    how: str | None = None
    then: str | None = None

    def claims(self) -> list[Claim]:
        first = next(iter(self.checks))
        claims = []
        for i, (dataset, check) in enumerate(self.checks.items()):
            short, name = _NAMES.get(dataset, (dataset, dataset))
            how = self.how
            if i and self.then is not None:
                new = check.criterion(self.arch, dataset) != self.checks[first].criterion(self.arch, first)
                how = self.then + ("; {criterion}." if new else ".")
            paper = self.paper if self.paper is not None else check.paper(self.arch)
            text = self.claim.format(name=name, paper=paper, check=check)
            claims.append(
                Claim(self.id.format(d=short), self.section, self.topic, text, check, self.arch, dataset, paper, how)
            )
        return claims


def _each(check: Check, *datasets: str) -> dict[str, Check]:
    return dict.fromkeys(datasets, check)


_ALL = None  # the key of a claim about the whole run


def _table1_claims() -> list[Claim]:
    """Three claims per row of the paper's Table I."""
    claims = []
    for row in PAPER_TABLE1.itertuples(index=False):
        d, a = row.dataset, row.arch
        lead = f"{family(a)} on {title(d)}:"
        claims += [
            Claim(
                f"table1-{d}-{a}-min-params",
                "Table I",
                "stability",
                f"{lead} the smallest stable model has about {sci(row.paper_min_params)} parameters.",
                MinParams(row.paper_min_params),
                a,
                d,
            ),
            Claim(
                f"table1-{d}-{a}-safe-pruning",
                "Table I",
                "pruning",
                f"{lead} the smallest stable model can be pruned to about {row.paper_safe_pruning_pct:g}% without "
                "losing accuracy.",
                TableCell("safe_pruning_pct", row.paper_safe_pruning_pct),
                a,
                d,
            ),
            Claim(
                f"table1-{d}-{a}-8bit-gap",
                "Table I",
                "quantization",
                f"{lead} 8-bit QAT of the smallest stable model costs about {row.paper_8bit_gap_pct:g} pp of accuracy.",
                TableCell("gap_8bit_pct", row.paper_8bit_gap_pct),
                a,
                d,
            ),
        ]
    return claims


# The text claims, in the paper's order (a table: one row per claim, not formatted by ruff).
# fmt: off
ROWS: tuple[Row, ...] = (
    # --- IV-a convergence
    Row(
        "dnn-{d}-stable-1e3", "IV-a", "stability", "dnn", {"mnist": MinParamsPerDepth(1_000)},
        "On {name}, DNNs of every depth become stable once they have around a thousand parameters.",
    ),
    Row(
        "cnn-{d}-stable-channels", "IV-a", "stability", "cnn",
        _each(MinStableWidth(WidthsIn(4, 8)), "mnist", "fashion_mnist"),
        "On {name} the one-conv CNN becomes stable at 4 to 8 channels.",
    ),
    Row(
        "cnn-{d}-acc-4-8", "IV-a", "accuracy", "cnn",
        {"mnist": AccuracyAt(WidthsIn(4, 8), 99.4, 99.8), "fashion_mnist": AccuracyAt(WidthsIn(4, 8), 99.0, 99.6)},
        "At those 4-8 channels the CNN scores roughly {paper} on {name}.",
    ),
    Row(
        "cnn-{d}-rise-16-32", "IV-a", "accuracy", "cnn", {"cifar10": Rises(16, 32)},
        "On {name} the CNN still gains accuracy going from 16 to 32 channels.", paper="rising",
    ),
    Row(
        "cnn-{d}-acc-32", "IV-a", "accuracy", "cnn", {"cifar10": AccuracyAt(At(32), 83, 88)},
        "The CNN reaches roughly {paper} on {name} at 32 channels.",
    ),
    Row(
        "vit-{d}-late-plateau", "IV-a", "stability", "vit", {"mnist": MinStableWidth(TopOfSweep(0.75, 16))},
        "On {name} the ViT levels off only near its largest hidden dimension.",
        how="Minimum stable hidden dimension on {dataset} (the sweep must end at 16); {criterion}.",
    ),
    Row(
        "vit-{d}-acc-16", "IV-a", "accuracy", "vit",
        {d: AccuracyAt(Largest(16), v, v) for d, v in (("mnist", 96), ("fashion_mnist", 80), ("cifar10", 37))},
        "The widest ViT scores about {check.low}% on {name}.",
    ),
    Row(
        "vit-{d}-still-rising", "IV-a", "accuracy", "vit", {"cifar10": RisesThroughout(0.9)},
        "On {name} the ViT's accuracy keeps climbing over the whole width range (it stays under-parameterised).",
        paper="monotone rise",
    ),
    Row(
        "cnn-{d}-4-channels", "IV (closing)", "stability", "cnn", {"mnist": MinStableWidth(Neighbours(4))},
        "Four channels are the CNN's minimal stable size on {name}.",
    ),
    Row(
        "vit-{d}-6-dims", "IV (closing)", "stability", "vit", {"mnist": MinStableWidth(Neighbours(6))},
        "Six hidden dimensions are the ViT's minimal stable size on {name}.",
    ),
    Row(
        "min-params-grow-with-complexity", "IV (closing)", "stability", None,
        {_ALL: Across(grows_with_complexity, "Table I min_params per family in dataset order",
                      "non-decreasing for every family measured on 2+ datasets")},
        "Each family's minimal stable size grows from MNIST to Fashion-MNIST to CIFAR-10.", paper="non-decreasing",
    ),
    # --- IV-b pruning
    Row(
        "dnn-{d}-prune-50-60", "IV-b", "pruning", "dnn", {"mnist": PruningSummary("safe_pct", 50, 60)},
        "Stable DNNs on {name} keep their accuracy up to about half to three-fifths of their weights pruned.",
    ),
    Row(
        "cnn-{d}-prune-fail-60-70", "IV-b", "pruning", "cnn",
        _each(PruningSummary("fail_pct", 60, 70), "mnist", "fashion_mnist"),
        "The CNN on {name} starts failing between 60 and 70% pruning.", then="As for MNIST, on {dataset}",
    ),
    Row(
        "cnn-{d}-prune-fail-50-60", "IV-b", "pruning", "cnn", {"cifar10": PruningSummary("fail_pct", 50, 60)},
        "On {name} the CNN fails earlier, between 50 and 60% pruning.",
        how="As for MNIST, on {dataset}; {criterion}.",
    ),
    Row(
        "vit-{d}-prune-fail-small", "IV-b", "pruning", "vit",
        {d: PruningSummary("fail_pct", low, high, at_representative=True)
         for d, low, high in (("mnist", 45, 60), ("cifar10", 35, 45))},
        "A small ViT on {name} starts failing at {paper} pruning.",
        then="Failing % of the smallest stable ViT on {dataset}",
    ),
    Row(
        "dnn-deeper-prunes-more", "IV-b, V", "pruning", "dnn", {_ALL: Trend("depth", "safe_pct", +1)},
        "Deeper DNNs withstand more pruning.", paper="positive trend",
    ),
    Row(
        "dnn-wider-prunes-more", "IV-b", "pruning", "dnn", {_ALL: Trend("width", "safe_pct", +1)},
        "Wider DNNs withstand more pruning.", paper="positive trend",
    ),
    Row(
        "cnn-wider-prunes-more", "IV-b", "pruning", "cnn", {_ALL: Trend("width", "safe_pct", +1)},
        "CNNs with more channels withstand more pruning.", paper="positive trend",
        how="As above, for the CNN curves.",
    ),
    Row(
        "vit-wider-prunes-more", "IV-b", "pruning", "vit", {_ALL: Trend("width", "safe_pct", +1)},
        "Wider ViTs withstand more pruning.", paper="positive trend", how="As above, for the ViT curves.",
    ),
    Row(
        "dnn-deep-over-60", "V", "pruning", "dnn",
        {"mnist": PruningSummary("safe_pct", 60, topologies=("L3ee", "L4eee"))},
        "Deep DNNs (3-4 hidden layers) keep their accuracy beyond 60% sparsity.",
    ),
    # --- IV-c quantization
    Row(
        "dnn-{d}-gap-small", "IV-c", "quantization", "dnn", {"mnist": GapBound()},
        "Once stable, DNNs on {name} lose little or nothing to 8-bit QAT.",
        how="Median over the stable DNN configurations on {dataset} of the mean gap (float − int8); {criterion}.",
    ),
    Row(
        "cnn-{d}-gap-le-3", "IV-c", "quantization", "cnn", _each(GapBound(3), "mnist", "fashion_mnist"),
        "Stable CNNs on {name} lose at most about 3 pp to 8-bit QAT.", then="As for MNIST, on {dataset}",
    ),
    Row(
        "cnn-{d}-gap-large", "IV-c", "quantization", "cnn", {"cifar10": GapRange(AtLeast(16), 1.5, 2.5)},
        "On {name} the larger CNNs lose a modest 1.5-2.5 pp to 8-bit QAT.",
    ),
    Row(
        "vit-{d}-gap-shrinks", "IV-c", "quantization", "vit",
        _each(Trend("width", "gap", -1, stable_only=False), "mnist", "fashion_mnist"),
        "The ViT's 8-bit gap on {name} shrinks as it gets wider.", paper="shrinking",
    ),
    Row(
        "vit-{d}-gap-16", "IV-c", "quantization", "vit", {"cifar10": GapRange(Largest(16), 4, 6)},
        "Even the widest ViT on {name} loses roughly 4-6 pp to 8-bit QAT.",
    ),
    Row(
        "gap-larger-on-cifar", "IV (closing), V", "quantization", None,
        {_ALL: Across(gap_grows_on_cifar, "Table I gap_8bit_pct on CIFAR-10 vs MNIST, per family",
                      "larger for every family measured on both")},
        "The 8-bit gap is larger on CIFAR-10 than on MNIST.", paper="larger on CIFAR-10",
    ),
    Row(
        "vit-int8-beats-float", "V", "quantization", "vit",
        {_ALL: Across(vit_gap_negative, "Count of ViT configurations whose mean gap is negative",
                      "there is at least one")},
        "For some hidden dimensions the quantized ViT beats its float version.", paper="some D",
    ),
    Row(
        "qat-more-robust-than-ptq", "III-A c", "quantization", None,
        {_ALL: Across(qat_more_robust_than_ptq, "Per configuration, the mean over seeds of PTQ's 8-bit gap minus "
                      "QAT's (same seed, the headline scope); its median per family", "above 0 for every family")},
        "QAT is more robust than post-training quantization, which is why the study quantizes during training.",
        paper="QAT more robust",
    ),
    # --- phase 1
    Row(
        "phase1-shape-invariance", "V (phase 1)", "phase1", "dnn",
        {_ALL: Across(shape_invariance, "topology_invariance.csv: per dataset and depth with 2+ shapes, the decade "
                      "from which every larger decade's spread is within the tolerance", "every depth has one")},
        "Beyond some parameter count a DNN's hidden-layer shape no longer matters.", paper="invariant when large",
    ),
)
# fmt: on

CLAIMS: tuple[Claim, ...] = (*_table1_claims(), *(claim for row in ROWS for claim in row.claims()))
