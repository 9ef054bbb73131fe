"""Record a finished run under ``docs/results/<name>/``, and build README's Table I from the records.

``record`` copies what a run's reader needs from its working directory (the merged config,
Table I with intervals, the regimes, the quantization gaps, the paper comparison, the figures
and the collected per-seed tables) and writes ``run.md``: the facts of the run that no
aggregate holds, measured rather than remembered:

- the code: the commit named on the command line and the code versions of the per-seed rows
  (``code_version``; ``minarch_source_hash`` in older runs), one value when the whole run used
  one version of the code;
- its size: configurations, seeds and training runs per family, and the epochs runs stopped at;
- its cost: wall and CPU time summed over the ``/usr/bin/time -v`` files of its invocations (a
  run resumed after a stop has several), beside the cost model's prediction for its config
  (``benchmarks/cost_model.py``, an upper bound: no early stopping);
- its Table I cells ranked by how far they are from the paper's, in units of the paper
  comparison's own tolerances (``minarch.comparison.checks``: a decade of size, 10 pp of pruning, 1 pp of 8-bit gap), so
  that the largest disagreements a record's README explains are the measured ones.

``table`` prints the Markdown of every Table I row of the records it is given, ours beside
the paper's, with 95% intervals and the record each row comes from; README's Results section
holds that output between ``<!-- table1 ... -->`` markers (the test suite checks they agree).

``claims`` judges the paper's claims once on the records taken together (``combined_run``: each
dataset and family from the first record named that holds it), so that the claims spanning
datasets (sizes growing from MNIST to CIFAR-10, the 8-bit gap widening on CIFAR-10) get a
verdict no single record can give; README holds its output between ``<!-- claims ... -->``
markers, checked like Table I's.

Usage::

    python tools/record_run.py record WORKDIR docs/results/NAME --commit SHA --time WORKDIR/time.*.txt
    python tools/record_run.py table docs/results/mnist-paper-recipe docs/results/...
    python tools/record_run.py table --readme README.md   # after naming a new record in its marker
    python tools/record_run.py claims --readme README.md  # the same for the claims' block
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from minarch.comparison.checks import (  # noqa: E402
    AGREE,
    DISAGREE,
    GAP_SLACK_PP,
    MIN_PARAMS_DECADES,
    NOT_MEASURED,
    PRUNE_SLACK_PP,
)
from minarch.io import CODE_VERSION, SOURCE_HASH  # noqa: E402
from minarch.regimes import widest_swept  # noqa: E402
from minarch.tables import CONFIG_KEYS, arch_title, dataset_title  # noqa: E402  (after src/ is on the path)

# results/<file> -> the record's file; the last ones exist only in runs with a QAT stage or newer code
COPIED = (
    "config.yaml",
    "table1.md",
    "table1.csv",
    "regimes.csv",
    "paper_comparison.md",
    "quantization_gaps.md",
    "quantization_gaps.csv",
)


def read_time_files(paths: list[Path]) -> dict[str, float]:
    """Wall and CPU seconds (user + system of the process tree) summed over ``/usr/bin/time -v`` files.

    An empty file is an invocation killed with its ``time`` (a session or node that ended): it
    is counted in ``unreported``, and its cost shows only in ``job_benchmarks``."""
    wall = cpu = 0.0
    unreported = 0
    for path in paths:
        text = path.read_text()
        if not text.strip():
            unreported += 1
            continue
        clock = re.search(r"Elapsed \(wall clock\) time.*?\): (?:(\d+):)?(\d+):(\d+(?:\.\d+)?)", text)
        user = re.search(r"User time \(seconds\): ([\d.]+)", text)
        system = re.search(r"System time \(seconds\): ([\d.]+)", text)
        if not (clock and user and system):
            raise ValueError(f"{path} is not the output of /usr/bin/time -v")
        hours, minutes, seconds = clock.groups()
        wall += 3600 * float(hours or 0) + 60 * float(minutes) + float(seconds)
        cpu += float(user.group(1)) + float(system.group(1))
    return {"wall_s": wall, "cpu_s": cpu, "invocations": len(paths), "unreported": unreported}


def job_benchmarks(results: Path) -> dict[str, float]:
    """Seconds and CPU seconds summed over the Snakemake ``benchmark:`` files of the run's
    finished jobs (``results/benchmarks/**.tsv``), whatever invocation ran them. A job that was
    interrupted and resumed shows only its last segment, so this is a lower bound."""
    files = sorted(results.glob("benchmarks/**/*.tsv"))
    frames = [pd.read_csv(path, sep="\t", usecols=["s", "cpu_time"]) for path in files]
    both = pd.concat(frames) if frames else pd.DataFrame({"s": [], "cpu_time": []})
    return {"jobs": len(files), "job_s": float(both["s"].sum()), "cpu_s": float(both["cpu_time"].sum())}


def disagreements(table1: pd.DataFrame) -> pd.DataFrame:
    """Every Table I cell with ours, the paper's and the distance between them in units of the
    comparison's tolerance (above 1: outside it), largest first."""
    rows = []
    for row in table1.itertuples(index=False):
        cells = [
            ("smallest stable size", row.min_params, row.paper_min_params, _size_distance),
            ("safe pruning %", row.safe_pruning_pct, row.paper_safe_pruning_pct, _linear(PRUNE_SLACK_PP)),
            ("8-bit gap (pp)", row.gap_8bit_pct, row.paper_8bit_gap_pct, _linear(GAP_SLACK_PP)),
        ]
        for what, ours, paper, distance in cells:
            if pd.notna(ours) and pd.notna(paper):
                rows.append((row.dataset, row.arch, what, ours, paper, distance(ours, paper)))
    frame = pd.DataFrame(rows, columns=["dataset", "arch", "cell", "ours", "paper", "tolerances"])
    return frame.sort_values("tolerances", ascending=False, kind="stable").reset_index(drop=True)


def _size_distance(ours: float, paper: float) -> float:
    return abs(math.log10(ours / paper)) / MIN_PARAMS_DECADES if ours > 0 and paper > 0 else math.inf


def _linear(tolerance: float):
    return lambda ours, paper: abs(ours - paper) / tolerance


def run_size(collected: Path) -> pd.DataFrame:
    """Per family: configurations, seeds per configuration, training runs and the epochs they
    stopped at (mean, and the share that ran to max_epochs)."""
    rows = []
    for family_dir in sorted(p for p in collected.iterdir() if (p / "train.parquet").is_file()):
        train = pd.read_parquet(family_dir / "train.parquet")
        finals = train[train["kind"] == "final"]
        full_length = finals["stopped_epoch"] >= finals["train_max_epochs"]
        rows.append(
            {
                "family": family_dir.name,
                "configurations": finals.groupby(CONFIG_KEYS).ngroups,
                "seeds": ", ".join(str(n) for n in sorted(finals.groupby(CONFIG_KEYS)["seed"].nunique().unique())),
                "training runs": len(finals),
                "mean stopped epoch": round(float(finals["stopped_epoch"].mean()), 1),
                "ran to max_epochs": f"{100 * float(full_length.mean()):.0f}%",
            }
        )
    return pd.DataFrame(rows)


# The code a row records: its stage's code version (``minarch.provenance``), or in rows made
# before those were recorded, the whole package's source hash.
CODE_COLUMNS = (CODE_VERSION, SOURCE_HASH)


def source_hashes(collected: Path) -> list[str]:
    found: set[str] = set()
    for path in sorted(collected.glob("*/*.parquet")):
        names = pq.read_schema(path).names
        column = next((name for name in CODE_COLUMNS if name in names), None)
        if column is None:
            raise ValueError(f"{path} has none of the code columns {CODE_COLUMNS}")
        found |= set(pd.read_parquet(path, columns=[column])[column].dropna().astype(str))
    return sorted(found)


def predicted(config: Path, speed_factor: float | None = None) -> str:
    """The cost model's estimate for ``config`` on 2 cores (``benchmarks/planner.py``, as
    ``benchmarks/cost_model.py`` prints it), its table scaled by ``speed_factor`` if given."""
    if str(REPO / "benchmarks") not in sys.path:  # the benchmark scripts are no package
        sys.path.insert(0, str(REPO / "benchmarks"))
    from calibration import scaled
    from planner import estimate, format_hours

    from minarch.config import load_config
    from minarch.cost import CostParameters

    params = CostParameters() if speed_factor is None else scaled(CostParameters(), speed_factor)
    summary = estimate(load_config(config), params, cores=(2,))
    return (
        f"{summary.total_jobs:,} jobs, {summary.total_cpu_hours:.2f} CPU-hours, "
        f"{format_hours(summary.wall_hours[2])} on 2 cores"
    )


def record(
    workdir: Path,
    dest: Path,
    commit: str,
    time_files: list[Path],
    config: Path | None = None,
    speed_factor: float | None = None,
) -> Path:
    """Copy the run's aggregates, figures and per-seed tables into ``dest`` and write ``dest/run.md``."""
    results = workdir / "results"
    missing = [name for name in ("table1.csv", "config.yaml") if not (results / name).is_file()]
    if missing:
        raise SystemExit(f"record_run: {results} has no {', '.join(missing)}: is the run finished?")
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (results / name).is_file():
            shutil.copy2(results / name, dest / name)
    for figure in sorted((results / "figures").glob("*.png")):
        shutil.copy2(figure, dest / figure.name)
    for table in sorted((results / "collected").glob("*/*.parquet")):
        target = dest / "collected" / table.parent.name / table.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(table, target)
    lines = [f"# Facts of the run recorded in `{dest.name}` (written by `tools/record_run.py`)", ""]
    hashes = source_hashes(results / "collected")
    lines += [
        f"- **Code**: commit `{commit}`; per-seed rows from code version{'s' if len(hashes) != 1 else ''} "
        f"{', '.join(f'`{h}`' for h in hashes)}"
        + ("" if len(hashes) == 1 else " (**more than one version of the code**)"),
    ]
    if time_files:
        cost = read_time_files(time_files)
        unreported = (
            f"; {cost['unreported']} of them killed before `time` could report, not counted here"
            if cost["unreported"]
            else ""
        )
        lines.append(
            f"- **Cost**: wall {cost['wall_s'] / 60:.1f} min, CPU {cost['cpu_s'] / 3600:.2f} hours "
            f"(user + system of the Snakemake process tree, {cost['invocations']} invocation(s){unreported})"
        )
    jobs = job_benchmarks(results)
    if jobs["jobs"]:
        lines.append(
            f"- **Jobs' own benchmarks**: {jobs['jobs']} finished jobs, {jobs['job_s'] / 3600:.2f} job-hours, "
            f"CPU {jobs['cpu_s'] / 3600:.2f} hours (Snakemake `benchmark:` files; a resumed job counts only "
            "its last segment)"
        )
    if config is not None:
        lines.append(
            f"- **Cost model's prediction** for `{config.name}` (upper bound, built-in table): {predicted(config)}"
        )
        if speed_factor is not None:
            lines.append(
                f"- **The same, scaled by this machine's speed check** (x {speed_factor:.2f}, "
                f"`benchmarks/cost_model.py --speed-check`): {predicted(config, speed_factor)}"
            )
    lines += ["", "## Size", "", run_size(results / "collected").to_markdown(index=False), ""]
    table1 = pd.read_csv(results / "table1.csv")
    ranked = disagreements(table1)
    ranked.insert(0, "row", [f"{dataset_title(d)} {arch_title(a)}" for d, a in zip(ranked["dataset"], ranked["arch"])])
    lines += [
        "## Table I cells against the paper's, largest distance first",
        "",
        f"Distance in tolerances of the paper comparison: sizes in {MIN_PARAMS_DECADES:g} decade(s), "
        f"pruning in {PRUNE_SLACK_PP:g} pp, gaps in {GAP_SLACK_PP:g} pp; above 1 is a disagreement.",
        "",
        ranked.drop(columns=["dataset", "arch"]).to_markdown(index=False, floatfmt=".3g"),
        "",
    ]
    (dest / "run.md").write_text("\n".join(lines))
    return dest / "run.md"


# ---------------------------------------------------------------------------- README's Table I
def _interval(low: float, high: float, fmt: str) -> str:
    return f" [{fmt.format(low)}, {fmt.format(high)}]" if pd.notna(low) and pd.notna(high) else ""


def _power(value: float) -> str:
    """The paper's sizes as it prints them: 2e4, 3e6."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def table(records: list[Path], root: Path = Path(".")) -> str:
    """Every Table I row of ``records`` (folders holding a ``table1.csv``, relative to ``root``,
    as links from there), ours beside the paper's. "≥" marks a smallest stable size found at the
    widest configuration of its curve, a lower bound (``regimes.widest_swept``)."""
    lines = [
        "| dataset | family | smallest stable (params) | paper | safe pruning | paper | 8-bit gap | paper | record |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for folder in records:
        frame = pd.read_csv(root / folder / "table1.csv")
        # from the record's regimes, so that records made before Table I had the column say it too
        regimes = pd.read_csv(root / folder / "regimes.csv")
        for row in frame.itertuples(index=False):
            size = "none"
            if pd.notna(row.min_params):
                bound = "≥ " if widest_swept(regimes, row._asdict()) else ""
                size = f"{bound}{row.min_params:,.0f} (`{row.topology}` w{row.width:.0f})"
                if row.min_params_ci_low != row.min_params_ci_high:
                    size += _interval(row.min_params_ci_low, row.min_params_ci_high, "{:,.0f}")
            pruning = (
                f"{row.safe_pruning_pct:.0f}%"
                + _interval(row.safe_pruning_pct_ci_low, row.safe_pruning_pct_ci_high, "{:.0f}")
                if pd.notna(row.safe_pruning_pct)
                else "—"
            )
            gap = (
                f"{row.gap_8bit_pct:+.2f} pp" + _interval(row.gap_8bit_pct_ci_low, row.gap_8bit_pct_ci_high, "{:+.2f}")
                if pd.notna(row.gap_8bit_pct)
                else "—"
            )
            lines.append(
                f"| {dataset_title(row.dataset)} | {arch_title(row.arch)} | {size} | {_power(row.paper_min_params)} | "
                f"{pruning} | {row.paper_safe_pruning_pct:.0f}% | {gap} | {row.paper_8bit_gap_pct:.2f} pp | "
                f"[`{folder.name}`]({folder.as_posix()}/) |"
            )
    return "\n".join(lines)


README_BLOCK = re.compile(r"<!-- table1: (?P<records>[^>]*?) -->\n(?P<table>.*?)<!-- /table1 -->\n", re.DOTALL)


def readme_table(readme: Path) -> tuple[str, str]:
    """README's Table I block as written, and as ``table`` writes it from the records its marker names."""
    _, match, wanted = _readme_block(readme, README_BLOCK, _table_block)
    return match["table"], wanted


def _table_block(records: list[Path], root: Path = Path(".")) -> str:
    return table(records, root) + "\n"


# ------------------------------------------------------------------ README's claims, all records


def combined_run(records: list[Path], root: Path = Path(".")):
    """One ``minarch.comparison.Run`` of several records: each (dataset, family) with its
    regimes, Table I row and per-seed prune and QAT rows from the first record in ``records``
    that holds it, so a configuration measured twice is counted once. The records must share
    the pruning tolerance that made their Table I (its ``table1_prune_tolerance`` column; the
    default in records older than that column, which were made with it)."""
    from minarch.comparison import Run
    from minarch.regimes import PRUNE_TOLERANCE
    from minarch.tables import headline_qat_rows

    taken: set[tuple[str, str]] = set()
    parts: dict[str, list[pd.DataFrame]] = {"regimes": [], "table1": [], "prune": [], "qat": []}
    tolerances = set()
    for folder in records:
        path = root / folder
        table1 = pd.read_csv(path / "table1.csv")
        tolerances |= set(table1.get("table1_prune_tolerance", pd.Series([PRUNE_TOLERANCE])).astype(float))
        regimes = pd.read_csv(path / "regimes.csv")
        new = set(zip(regimes["dataset"], regimes["arch"])) - taken
        taken |= new

        def mine(frame: pd.DataFrame, new=new) -> pd.DataFrame:
            return frame[[pair in new for pair in zip(frame["dataset"], frame["arch"])]]

        parts["regimes"].append(mine(regimes))
        parts["table1"].append(mine(table1))
        for stage in ("prune", "qat"):
            for table in sorted((path / "collected").glob(f"*/{stage}.parquet")):
                parts[stage].append(mine(pd.read_parquet(table)))
    if len(tolerances) > 1:
        raise ValueError(f"the records' Table I used different pruning tolerances: {sorted(tolerances)}")
    frames = {name: pd.concat(found, ignore_index=True) if found else None for name, found in parts.items()}
    qat = headline_qat_rows(frames["qat"]) if frames["qat"] is not None else None
    return Run(frames["regimes"], frames["table1"], frames["prune"], qat, None, frames["table1"], tolerances.pop())


def claims(records: list[Path], root: Path = Path(".")) -> str:
    """The verdicts on the paper's claims judged on ``combined_run(records)``: counts per
    dataset, then every claim that spans the run (no single dataset) with its verdict."""
    from minarch.comparison import evaluate
    from minarch.comparison.claims import CLAIMS

    table = evaluate(combined_run(records, root), CLAIMS)
    table["dataset"] = [claim.dataset for claim in CLAIMS]  # evaluate gives one row per claim, in order
    verdicts = (AGREE, DISAGREE, NOT_MEASURED)
    lines = [
        f"Judged on {', '.join(f'`{Path(r).name}`' for r in records)} together (each dataset and family from the "
        "first of them that holds it): "
        + ", ".join(f"{(table['verdict'] == v).sum()} {v}" for v in verdicts)
        + f" of the paper's {len(table)} claims.",
        "",
        "| claims about | " + " | ".join(verdicts) + " |",
        "|---|" + "---:|" * len(verdicts),
    ]
    for dataset, rows in table.groupby(table["dataset"].fillna(""), sort=False):
        counts = rows["verdict"].value_counts()
        label = dataset_title(dataset) if dataset else "the run as a whole (across datasets, widths, depths)"
        lines.append(f"| {label} | " + " | ".join(str(counts.get(v, 0)) for v in verdicts) + " |")
    lines += ["", "| claim | paper | ours | verdict |", "|---|---|---|---|"]
    for row in table[table["dataset"].isna()].itertuples(index=False):
        cells = (f"{row.claim} (Sec. {row.section}, `{row.id}`)", row.paper, row.ours, row.verdict)
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"


CLAIMS_BLOCK = re.compile(r"<!-- claims: (?P<records>[^>]*?) -->\n(?P<table>.*?)<!-- /claims -->\n", re.DOTALL)


def _readme_block(readme: Path, block: re.Pattern, make) -> tuple[str, re.Match, str]:
    """README's text, its ``block`` and the block as ``make`` writes it from the records its marker names."""
    text = readme.read_text()
    match = block.search(text)
    if match is None:
        raise ValueError(f"{readme} has no {block.pattern.split(':')[0]}: RECORD ... --> block")
    return text, match, make([Path(name) for name in match["records"].split()], readme.parent)


def readme_claims(readme: Path) -> tuple[str, str]:
    """README's claims block as written, and as ``claims`` writes it from the records its marker names."""
    _, match, wanted = _readme_block(readme, CLAIMS_BLOCK, claims)
    return match["table"], wanted


def _rewrite(readme: Path, block: re.Pattern, make, what: str) -> None:
    text, match, wanted = _readme_block(readme, block, make)
    readme.write_text(text[: match.start("table")] + wanted + text[match.end("table") :])
    print(f"{readme}: {what} block {'unchanged' if match['table'] == wanted else 'rewritten'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="copy a finished run into a record folder and write its run.md")
    rec.add_argument("workdir", type=Path, help="the run's working directory (holding results/)")
    rec.add_argument("dest", type=Path, help="the record folder, e.g. docs/results/NAME")
    rec.add_argument("--commit", required=True, help="the commit the run's checkout was at")
    rec.add_argument("--time", type=Path, nargs="*", default=[], help="/usr/bin/time -v outputs of its invocations")
    rec.add_argument("--config", type=Path, help="the run's --configfile, for the cost model's prediction")
    rec.add_argument(
        "--speed-factor",
        type=float,
        help="this machine's speed relative to the cost model's table (cost_model.py --speed-check prints it)",
    )
    tab = commands.add_parser("table", help="print README's Table I rows from record folders")
    tab.add_argument("records", type=Path, nargs="*", help="record folders (default: those README's block names)")
    tab.add_argument("--readme", type=Path, help="rewrite this README's <!-- table1: ... --> block in place")
    cla = commands.add_parser("claims", help="print the verdicts on the paper's claims over record folders")
    cla.add_argument("records", type=Path, nargs="*", help="record folders (default: those README's block names)")
    cla.add_argument("--readme", type=Path, help="rewrite this README's <!-- claims: ... --> block in place")
    args = parser.parse_args(argv)
    if args.command == "record":
        print(record(args.workdir, args.dest, args.commit, args.time, args.config, args.speed_factor))
        return 0
    block, what, make = {"table": (README_BLOCK, "Table I", _table_block), "claims": (CLAIMS_BLOCK, "claims", claims)}[
        args.command
    ]
    if args.readme:
        _rewrite(args.readme, block, make, what)
    elif args.records:
        print(make(args.records), end="")
    else:
        print(_readme_block(REPO / "README.md", block, make)[2], end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
