"""Command-line interface: one module per sub-command (see ``deit.cli.main.COMMANDS``)."""
