"""Training configuration: one flat dataclass, the argparse flags generated from it, YAML recipes, validation.

Precedence: dataclass defaults < recipe YAML (``-c/--config``) < flags given on the command line.
Fields marked "(default: recipe)" are ``None`` until :func:`deit.auto_recipe.resolve_recipe` fills them
from ``--recipe``: ``auto`` derives them from the dataset, the model and the world size; ``paper`` is Table 9.
``--lr`` is the learning rate actually used (timm's convention); ``--lr-base`` is a reference rate scaled by
global batch / ``--lr-base-size`` (the paper's 5e-4 x batch/512 rule).
Every user error is a :class:`deit.errors.ConfigError` whose message names the key (``--flag`` form).
"""

from deit.config.fields import (
    RECIPE_CHOICES,
    RECIPES_DIR,
    SPECS,
    TrainConfig,
    default_workers,
)
from deit.config.files import (
    dump_config,
    list_recipes,
    load_config,
    load_config_file,
    resolve_recipe,
    save_config,
)
from deit.config.flags import add_train_arguments, config_from_args
from deit.config.validation import RULES, check_starting_weights, validate

__all__ = [
    "RECIPES_DIR",
    "RECIPE_CHOICES",
    "TrainConfig",
    "RULES",
    "SPECS",
    "add_train_arguments",
    "check_starting_weights",
    "config_from_args",
    "default_workers",
    "dump_config",
    "list_recipes",
    "load_config",
    "load_config_file",
    "resolve_recipe",
    "save_config",
    "validate",
]
