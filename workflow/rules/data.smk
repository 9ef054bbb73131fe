rule prepare_dataset:
    output:
        dataset="resources/datasets/{dataset}.npz",
    params:
        mirror=config["data"]["mirror"],
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/minarch.yaml"
    script:
        "../scripts/prepare_dataset.py"
