from minarch.settings import qat_params

# One job per block of seeds. The train records give each seed's float accuracy, and its
# trained weights, which QAT fine-tunes (qat.mode: finetune) and post-training quantization
# quantizes (qat.ptq). A DNN's or CNN's params hold only the scope it runs (qat_params), so
# editing the ViT's scopes reruns the ViT's QAT alone.
for family in ARCHS:

    rule:
        name:
            f"qat_{family}"
        input:
            dataset="resources/datasets/{dataset}.version",  # the cache beside it, by content (data.smk)
            train=trained_blocks(family),
        output:
            block=block_file(family, "qat"),
        log:
            job_file(family, "logs/qat", ".log"),
        benchmark:
            job_file(family, "benchmarks/qat", ".tsv")
        priority: stage_priority(family, "qat")
        conda:
            "../../envs/minarch.yaml"
        threads: config["train"]["threads"]
        resources:
            **stage_resources(family, "qat"),
        params:
            arch=family,
            train=train_params(),
            qat=qat_params(config["qat"], family),
            code=CODE["qat"],
            data=data_version,
        script:
            "../scripts/qat.py"
