rule prepare_dataset:
    output:
        dataset="resources/datasets/{dataset}.npz",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../../envs/minarch.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        mirror=config["data"]["mirror"],
    script:
        "../scripts/prepare_dataset.py"
