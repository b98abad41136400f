"""The README's config and learner tables, rendered from their one source: the pydantic field descriptions and
the learners' declared ``params``. A test checks that README.md holds exactly these tables; refresh it with::

    python -m e2h.experiments.reference README.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from e2h.experiments.config import DatasetSpec, ExperimentConfig, LabelNoise, LearnerSpec

SECTIONS = ("config-reference", "learner-reference")


def _default(field: Any) -> str:
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if value is None:
        return "`null`"
    return f"`{value!r}`".replace("'", "") if value != "" else '`""`'


def _rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    return [
        f"| `{prefix}{name}` | {_default(field)} | {(field.description or '').replace('|', '/')} |"
        for name, field in model.model_fields.items()
    ]


def config_reference() -> str:
    """Every config key with its default and description, nested entries included (Markdown)."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    lines += _rows(ExperimentConfig)
    lines += _rows(DatasetSpec, "datasets[].")
    lines += _rows(LearnerSpec, "learners[].")
    lines += _rows(LabelNoise, "label_noise.")
    return "\n".join(lines)


def learner_reference() -> str:
    """Every registered learner with its parameters, defaults and whether each is a shared run option (Markdown)."""
    from e2h.learners import LEARNERS

    lines = ["| learner | parameter | default | meaning |", "|---|---|---|---|"]
    for name in LEARNERS.names():
        cls = LEARNERS.get(name)
        summary = (cls.__doc__ or "").strip().splitlines()[0].rstrip(".")
        supervised = "supervised" if cls.supervised else "unsupervised"
        lines.append(f"| **`{name}`** | | | {summary} ({supervised}) |")
        for key, param in cls.params.items():
            shared = " (shared run option)" if param.shared else ""
            lines.append(f"| | `{key}` | `{param.default!r}` | {param.help.replace('|', '/')}{shared} |")
    return "\n".join(lines)


def render(section: str) -> str:
    return {"config-reference": config_reference, "learner-reference": learner_reference}[section]()


def block(text: str, section: str) -> str | None:
    """The text between ``<!-- section:start -->`` and ``<!-- section:end -->`` in ``text``, stripped."""
    found = re.search(rf"<!-- {section}:start -->\n(.*?)<!-- {section}:end -->", text, flags=re.S)
    return found.group(1).strip() if found else None


def update(path: Path) -> None:
    """Rewrite every generated section of the Markdown file at ``path``."""
    text = path.read_text()
    for section in SECTIONS:
        text = re.sub(
            rf"(<!-- {section}:start -->\n).*?(<!-- {section}:end -->)",
            lambda m, s=section: m.group(1) + render(s) + "\n" + m.group(2),
            text,
            flags=re.S,
        )
    path.write_text(text)


if __name__ == "__main__":
    update(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
