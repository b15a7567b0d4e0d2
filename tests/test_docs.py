"""The README stays a five-minute read, and every relative link of the docs resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGES += [ROOT / "speech2face/speech2face/default_model/MODEL_CARD.md"]
PAGES += [ROOT / "weights/README.md", ROOT / "data/README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text()) <= 12_000


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    text = page.read_text()
    missing = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor of the page itself
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve()
        if not resolved.exists():
            missing.append(target)
        elif anchor and resolved.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", resolved.read_text(), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
            if anchor not in slugs:
                missing.append(target)
    assert not missing, f"{page.name}: links to nothing: {missing}"


def test_docstring_references_name_what_exists():
    """Every :func:/:class:/:mod:/:data:/:meth: reference to a ``speech2face.`` name in the
    package's docstrings resolves (a module moved without its references fails here)."""
    import importlib

    role = re.compile(r":(?:func|class|mod|data|meth|attr):`~?(speech2face\.[\w.]+)`")
    refs = set()
    for path in (ROOT / "speech2face").rglob("*.py"):
        refs |= set(role.findall(path.read_text()))
    missing = []
    for ref in sorted(refs):
        parts = ref.split(".")
        for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for name in parts[i:]:
                    obj = getattr(obj, name)
            except AttributeError:
                missing.append(ref)
            break
        else:
            missing.append(ref)
    assert len(refs) > 50 and not missing, missing
