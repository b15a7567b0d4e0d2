"""Options built from the config dataclasses: one place for every default.

An option's dest is the name of a config field and its default that field's default, so
``config_options`` turns parsed options back into the keywords the stages take.
"""

from __future__ import annotations

import argparse
from dataclasses import fields


def config_option(
    parser: argparse.ArgumentParser, flags, config, name: str, help: str, **kwargs
) -> None:
    """Add an option for the field ``name`` of the dataclass ``config``.

    Args:
        flags: one flag or a list of flags (aliases), e.g. ``["--num_gpu", "--num-gpu"]``.
        help: what the option means; its default is appended unless it is None or False.
        kwargs: further ``add_argument`` arguments (``type``, ``choices``, ``action``, ...).
    """
    default = getattr(config, name)
    if default is not None and default is not False:
        help = f"{help} (default: %(default)s)"
    flags = [flags] if isinstance(flags, str) else list(flags)
    parser.add_argument(*flags, dest=name, default=default, help=help, **kwargs)


def config_options(args: argparse.Namespace, *classes) -> dict:
    """The parsed options named as fields of ``classes`` (option dests are field names)."""
    names = {f.name for cls in classes for f in fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}
