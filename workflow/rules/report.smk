# `snakemake --report` describes the run that made results/: the config that run saved
# (results/config.yaml, rule save_config) replaces the one the report command was given, before
# the rest of the workflow plans its DAG from it, so the workflow page and the captions show the
# run's sweep and recipe whatever --configfile the report command gets.
import sys
from pathlib import Path

import yaml

RUN_CONFIG = "results/config.yaml"


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
    print(f"report: described from the run's saved config {RUN_CONFIG}", file=sys.stderr)
