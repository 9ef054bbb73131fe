# minarch: convergence, pruning and 8-bit QAT of minimal DNN/CNN/ViT models
# (reproducing arXiv 2601.17987). Layout and outputs: README.md; config keys: config/README.md.


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/qat.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        final_targets(),
