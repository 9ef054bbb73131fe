# `snakemake --report` describes the results in results/ from what they record: the settings
# columns of their rows, their code versions, and the config saved by the last run that
# finished (results/config.yaml, rule save_config). That saved config replaces the one the
# report command was given, before the rest of the workflow plans its DAG from it, so the
# report bundles the outputs of that run whatever --configfile the report command gets; the
# report's text then says where the results differ from it (a setting, a sweep, an output
# older than its inputs, rows of other code: describe_for_report, called from figures.smk).
import sys
from pathlib import Path

import yaml

RUN_CONFIG = "results/config.yaml"
# While a report is rendered, config[REPORT_FACTS] holds what the results record
# (minarch.origin.describe_results), for workflow/report/workflow.rst.
REPORT_FACTS = "_results"


def building_report(argv=None):
    """Whether this Snakemake process builds a report from finished results. Snakemake 9
    tells the Snakefile nothing about it but its command line; with --report-after-run the
    run itself comes first and uses the config given."""
    argv = sys.argv if argv is None else argv
    asked = any(arg == "--report" or arg.startswith("--report=") for arg in argv)
    return asked and "--report-after-run" not in argv


def saved_run_config(path=RUN_CONFIG):
    """The config saved by the run whose results are reported, or a one-line reason why
    there is none."""
    if not Path(path).is_file():
        return None, (
            f"no results to report yet: {path} (saved by every run) is missing; run the workflow first "
            "(e.g. snakemake --cores 2 --configfile config/quick.yaml), then ask for its report"
        )
    with open(path, encoding="utf-8") as handle:
        saved = yaml.safe_load(handle)
    if not isinstance(saved, dict):
        return None, f"{path} is not a saved config; delete it and rerun the workflow to rewrite it"
    return saved, None


if building_report():
    _saved, _problem = saved_run_config()
    if _problem:
        raise WorkflowError(_problem)
    config.clear()  # in place: Snakemake renders the report from this very dict
    config.update(_saved)
    # the report's configuration panel shows the saved config, not the report command's files
    workflow.configfiles[:] = [RUN_CONFIG]
    print(f"report: described from its results and the run's saved config {RUN_CONFIG}", file=sys.stderr)


def report_dependencies():
    """(output, its inputs) for every result the report shows and the per-seed files behind
    them, as the rules below define them: the report names any output older than its inputs
    (the dataset cache and its version file, inputs of the stage rules, are left out)."""
    finetune = config["qat"]["mode"] == "finetune"
    pairs = []
    for sweep in SWEEPS:
        for stage in ["train"] if sweep == TOPOLOGY_SWEEP else ["train", "prune", "qat"]:
            pairs.append((f"results/collected/{sweep}/{stage}.parquet", family_runs_of(sweep, f"{stage}.parquet")))
    for family in FAMILIES:
        runs = zip(*(family_runs_of(family, name) for name in STAGE_FILES))
        for model, train, prune, qat in runs:
            pairs += [(prune, [model]), (qat, [train, *([model] if finetune else [])])]
        figure = f"results/figures/{FIGURES[family]}.png"
        pairs.append((figure, [f"results/collected/{family}/{stage}.parquet" for stage in ("train", "prune", "qat")]))
    every_stage = collected("train") + collected("prune") + collected("qat")
    pairs += [(out, collected("train")) for out in ("results/regimes.parquet", "results/regimes.csv")]
    pairs.append(("results/regimes.html", collected("train")))
    for out in ("results/table1.csv", "results/table1.md", "results/table1.html"):
        pairs.append((out, ["results/regimes.parquet", *every_stage]))
    for out in ("results/quantization_gaps.csv", "results/quantization_gaps.md", "results/quantization_gaps.html"):
        pairs.append((out, collected("qat")))
    phase1 = ["results/topology_invariance.csv"] if TOPOLOGY_SWEEP in SWEEPS else []
    for out in ("results/paper_comparison.md", "results/paper_comparison.html"):
        pairs.append((out, ["results/regimes.parquet", "results/table1.csv", *every_stage, *phase1]))
    if TOPOLOGY_SWEEP in SWEEPS:
        phase1_train = [f"results/collected/{TOPOLOGY_SWEEP}/train.parquet"]
        for out in (
            "results/topologies.parquet",
            "results/topology_invariance.csv",
            "results/topology_invariance.html",
        ):
            pairs.append((out, phase1_train))
        pairs.append(("results/figures/fig2b_topologies.png", ["results/topologies.parquet"]))
    return pairs


def describe_for_report():
    """What the report says about its results (minarch.origin.describe_results), from the
    collected tables, the aggregates' recorded settings and the files' times."""
    import pandas as pd

    from minarch.config import sweeps as sweeps_of
    from minarch.io import CheckpointError, read_parquet
    from minarch.origin import AGGREGATE_SETTINGS, describe_results

    tables, aggregates = {}, {}
    try:
        for sweep in SWEEPS:
            for stage in ["train"] if sweep == TOPOLOGY_SWEEP else ["train", "prune", "qat"]:
                path = f"results/collected/{sweep}/{stage}.parquet"
                if Path(path).is_file():
                    tables.setdefault(sweep, {})[stage] = read_parquet(path)
        for path in AGGREGATE_SETTINGS:
            if Path(path).is_file():
                aggregates[path] = pd.read_csv(path)
    except CheckpointError as error:
        raise WorkflowError(str(error)) from None
    return describe_results(tables, config, sweeps_of(config), report_dependencies(), aggregates, RUN_CONFIG)
