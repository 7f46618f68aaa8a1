"""`deit train`: train a DeiT student (optionally distilled from a convnet teacher) or a CNN teacher.

    deit train --data /imagenet --model deit_tiny_distilled_patch16_224 --teacher regnety_160 \\
        --teacher-weights regnety_160.pth --distillation-type hard
    deit train -c cifar_small_images --data ./cifar-10-batches-py --output runs/cifar
    torchrun --nproc_per_node 4 -m deit train -c deit_small_distilled_imagenet --data /imagenet

Command lines of the official DeiT main.py run as main.py runs them (`python main.py` -> `deit train`): its
flags are ours or mapped onto ours (--output_dir, --num_workers, --data-path, ...); on such a line --lr is
scaled by global batch / 512 as main.py scales it, unless --unscale-lr (one line says so; the recipe block
prints the rate used). The few flags that cannot be honoured stop with one line saying what to use instead
(docs/COMMANDS.md has the table).
"""

from __future__ import annotations

import argparse

from deit.config import add_train_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    add_train_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import sys

    from deit.config import TrainConfig
    from deit.official_flags import translate
    from deit.trainer import train

    cfg = config_from_args(args)
    for note in translate(vars(args), "train", TrainConfig.__dataclass_fields__)[1]:
        print(f"deit train: {note}", file=sys.stderr)
    result = train(cfg)
    if result is None:
        return 1
    # Ctrl-C: the shell's 130 once the checkpoint is saved (a script's `&&` must not go on); SIGTERM (SLURM
    # pre-emption) stays 0, the job having stopped as asked
    return 130 if result.get("signal") == "SIGINT" else 0
