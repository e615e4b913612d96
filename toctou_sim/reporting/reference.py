"""Reference pages generated from the code: the model file's fields and the metric catalogue.

The documentation site renders these (``docs/hooks/reference.py`` replaces a marker in a page);
they are built from the pydantic models and :data:`toctou_sim.measure.catalogue.CATALOGUE`, so a field
or metric added in code appears in the reference without anyone editing a page. Every field is
listed once: a table reused in several places (a retry policy, a distribution) is described
where it first appears and linked from the others.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from toctou_sim.core import distributions
from toctou_sim.measure.catalogue import CATALOGUE
from toctou_sim.spec import model as spec
from toctou_sim.spec import parts as spec_parts

__all__ = ["FieldRow", "Section", "metric_catalogue_markdown", "model_file_markdown", "model_file_sections"]


@dataclass(frozen=True)
class FieldRow:
    """One field of one table of the model file."""

    name: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class Section:
    """One table of the model file (``[keys]``, ``[strategy] kind = "cas"``, ...)."""

    path: str
    title: str
    description: str
    rows: tuple[FieldRow, ...]
    model: type[BaseModel]


@cache
def _attribute_docstrings(cls: type) -> dict[str, str]:
    """Field name -> the string literal right after its annotation in the class body."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    out: dict[str, str] = {}
    for before, after in itertools.pairwise(body):
        if (isinstance(before, ast.AnnAssign) and isinstance(before.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            out[before.target.id] = " ".join(after.value.value.split()).replace("``", "`")
    return out


def _field_doc(cls: type[BaseModel], name: str, info: FieldInfo) -> str:
    if info.description:
        return " ".join(info.description.split()).replace("``", "`")
    for klass in cls.__mro__:
        if isinstance(klass, type) and issubclass(klass, BaseModel) and name in _attribute_docstrings(klass):
            return _attribute_docstrings(klass)[name]
    return ""


def _first_paragraph(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split("\n\n")[0].split()).replace("``", "`")


def _registry_of(annotation: Any) -> type[spec_parts.Registered] | None:
    bases: tuple[type[spec_parts.Registered], ...] = (
        spec_parts.StrategySpec, spec_parts.ReadPathSpec, spec_parts.FaultSpec, spec_parts.ActorSpec,
    )
    return next((base for base in bases if annotation is base), None)


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """(the core type, Annotated metadata) of a field annotation."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        annotation, metadata = args[0], [*metadata, *args[1:]]
    return annotation, metadata


def _inner_models(annotation: Any) -> list[Any]:
    """The pydantic models, registries and distributions a field's value can hold."""
    core, metadata = _unwrap(annotation)
    if any(getattr(m, "func", None) is distributions._validate_distribution for m in metadata):
        return [distributions.Distribution]
    if _registry_of(core) is not None:
        return [core]
    if isinstance(core, type) and issubclass(core, BaseModel):
        return [core]
    found: list[Any] = []
    for arg in typing.get_args(core):
        found += _inner_models(arg)
    return found


def _type_text(annotation: Any) -> str:
    core, metadata = _unwrap(annotation)
    validators = {getattr(m, "func", None) for m in metadata}
    if distributions._validate_distribution in validators or core is distributions.Distribution:
        return "distribution"
    names = {getattr(f, "__name__", "") for f in validators}
    if names & {"parse_duration", "_non_negative", "_positive"}:
        return "duration"
    registry = _registry_of(core)
    if registry is not None:
        return f"{registry.category} table"
    origin = typing.get_origin(core)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{v}"`' if isinstance(v, str) else f"`{v}`" for v in typing.get_args(core))
    if origin in (typing.Union, types.UnionType):
        parts = [_type_text(a) for a in typing.get_args(core) if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if origin is tuple:
        return f"list of {_type_text(typing.get_args(core)[0])}"
    if origin is dict:
        return f"tables of {_type_text(typing.get_args(core)[1])}"
    if isinstance(core, type) and issubclass(core, BaseModel):
        return "table"
    plain = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return plain.get(core, getattr(core, "__name__", str(core)))


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default if info.default is not PydanticUndefined else None
    if isinstance(value, distributions.Distribution):
        data = value.to_data()
        if list(data) == ["constant"]:
            return f"`{data['constant']['value']:g}`"
        return "a distribution"
    if isinstance(value, BaseModel):
        return "(table defaults)"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple | dict) and not value:
        return "empty"
    return f"`{value}`"


def model_file_sections() -> list[Section]:
    """Every table of the model file, each once, in reading order (a table, then the tables inside
    it), with its fields."""
    sections: list[Section] = []
    claimed: set[type] = {spec.ModelSpec}
    pending: list[tuple[str, str, type[BaseModel]]] = [("", "model file", spec.ModelSpec)]
    while pending:
        path, title, cls = pending.pop(0)
        rows = []
        children: list[tuple[str, str, type[BaseModel]]] = []
        for name, info in cls.model_fields.items():
            if name == "kind" and issubclass(cls, spec_parts.Registered):
                continue
            annotation = info.annotation if not info.metadata else typing.Annotated[(info.annotation, *info.metadata)]
            rows.append(FieldRow(name=name, type=_type_text(annotation), default=_default_text(info),
                                 description=_field_doc(cls, name, info)))
            child_path = f"{path}.{name}" if path else name
            for inner in _inner_models(annotation):
                if inner is distributions.Distribution:
                    continue
                registry = _registry_of(inner)
                if registry is not None:
                    for kind, kind_cls in sorted(registry.registry.items()):
                        if kind_cls in claimed:
                            continue
                        claimed.add(kind_cls)
                        children.append((f"{child_path}[{kind}]", f'{registry.category} `kind = "{kind}"`', kind_cls))
                elif inner not in claimed:
                    claimed.add(inner)
                    children.append((child_path, f"`{child_path}`", inner))
        pending[0:0] = children
        sections.append(Section(path=path, title=title, description=_first_paragraph(cls),
                                rows=tuple(rows), model=cls))
    return sections


def _table(rows: tuple[FieldRow, ...]) -> list[str]:
    if not rows:
        return ["No settings besides `kind`.", ""]
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for row in rows:
        description = row.description.replace("|", "\\|")
        lines.append(f"| `{row.name}` | {row.type} | {row.default} | {description} |")
    return [*lines, ""]


def model_file_markdown() -> str:
    """The model-file reference as Markdown: one section per table, every field once."""
    lines: list[str] = []
    for section in model_file_sections():
        heading = "The top level" if not section.path else section.title
        lines += [f"### {heading}", "", section.description, "", *_table(section.rows)]
    lines += ["### Distributions", "",
              "A distribution field takes a duration (a constant) or a one-key table naming its family:", "",
              "| family | parameters | meaning |", "|---|---|---|"]
    for family, cls in sorted(distributions.DISTRIBUTIONS.items()):
        params = ", ".join(f"`{name}`" for name in cls.model_fields)
        lines.append(f"| `{family}` | {params} | {_first_paragraph(cls)} |")
    return "\n".join([*lines, ""])


def metric_catalogue_markdown() -> str:
    """The metric catalogue as a Markdown table (name, unit, guide id, source, definition)."""
    lines = ["| metric | unit | guide | produced by | definition |", "|---|---|---|---|---|"]
    for metric in CATALOGUE.values():
        lines.append(f"| `{metric.name}` | {metric.unit} | {metric.guide} | {metric.source} | {metric.definition} |")
    return "\n".join([*lines, ""])
