"""Options built from the config dataclasses: one place for every default.

An option's dest is the name of a config field and its default that field's default, so
``config_options`` turns parsed options back into the keywords the stages take. A command's
options are a table of :class:`Option` rows (flags, field, help), added by ``add_options``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class Option:
    """One command-line option of a config field.

    Attributes:
        flags: one flag or a tuple of aliases, e.g. ``("--num_gpu", "--num-gpu")``.
        name: the field of the config dataclass (the option's dest and default).
        help: what the option means; its default is appended unless it is None or False.
        kwargs: further ``add_argument`` arguments (``type``, ``choices``, ``action``, ...).
    """

    flags: str | tuple[str, ...]
    name: str
    help: str
    kwargs: dict = field(default_factory=dict)


def option(flags, name: str, help: str, **kwargs) -> Option:
    """An :class:`Option` row: ``option("--seed", "seed", "random seed", type=int)``."""
    return Option(flags, name, help, kwargs)


def add_options(parser: argparse.ArgumentParser, config, options) -> None:
    """Add every row of ``options`` (Options) for the fields of the dataclass ``config``."""
    for row in options:
        config_option(parser, row.flags, config, row.name, row.help, **row.kwargs)


def config_option(
    parser: argparse.ArgumentParser, flags, config, name: str, help: str, **kwargs
) -> None:
    """Add an option for the field ``name`` of the dataclass ``config``.

    Args:
        flags: one flag or a list of flags (aliases), e.g. ``["--num_gpu", "--num-gpu"]``.
        help: what the option means; its default is appended unless it is None or False.
        kwargs: further ``add_argument`` arguments (``type``, ``choices``, ``action``, ...).

    Raises:
        AttributeError: ``config`` has no field ``name``.
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
