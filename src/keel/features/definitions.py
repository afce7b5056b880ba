"""Feature definitions as values: :class:`Entity`, :class:`Field`, :class:`FeatureView`, :class:`OnDemandFeatureView`.

Each definition turns into a JSON-ready *spec* (``to_spec``) that the registry stores, versions and diffs, and comes
back from one (``from_spec``). A view's source is a dataset (``NAME`` or ``NAME@v3``), a table file path or URL, or a
SQL query through a SQLAlchemy URL (:class:`Source`).
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.data.entities import TABLE_SUFFIXES
from keel.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DTYPES", "Definition", "Entity", "FeatureView", "Field", "OnDemandFeatureView", "RequestSource", "Source",
           "definition_from_spec", "on_demand_feature_view"]

DTYPES = ("int64", "int32", "float64", "float32", "string", "bool", "timestamp")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def check_name(name: str, what: str) -> str:
    """``name`` if it is a valid identifier-like name for a ``what``, else InvalidInput naming the rule."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"{what} name {name!r} is invalid: use letters, digits and '_' (at most 128, not starting "
                           "with a digit)", field="name")
    return name


@dataclass(frozen=True)
class Field:
    """One typed column: a feature of a view, or a request field."""

    name: str
    dtype: str = "float64"

    def __post_init__(self) -> None:
        check_name(self.name, "field")
        if self.dtype not in DTYPES:
            raise InvalidInput(f"field {self.name!r}: dtype {self.dtype!r} is not one of {', '.join(DTYPES)}",
                               field="dtype")


@dataclass(frozen=True)
class Entity:
    """What features describe (a driver, a customer), identified by one or more join-key columns."""

    name: str
    join_keys: Sequence[str]
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "entity")
        keys = [self.join_keys] if isinstance(self.join_keys, str) else list(self.join_keys)
        if not keys:
            raise InvalidInput(f"entity {self.name!r}: give at least one join key", field="join_keys")
        for key in keys:
            check_name(key, "join key")
        object.__setattr__(self, "join_keys", tuple(keys))

    kind = "entity"

    def to_spec(self) -> dict[str, Any]:
        """The JSON-ready spec the registry stores."""
        return {"name": self.name, "join_keys": list(self.join_keys), "description": self.description}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Entity:
        """Rebuild from :meth:`to_spec`'s output."""
        return cls(spec["name"], tuple(spec["join_keys"]), spec.get("description", ""))


@dataclass(frozen=True)
class Source:
    """Where a view's rows come from: ``kind`` is ``dataset`` (``ref`` = NAME or NAME@vN), ``file`` (``ref`` = path or
    URL of Parquet, CSV, TSV or JSON lines) or ``sql`` (``ref`` = SQLAlchemy URL, ``query`` = the SELECT)."""

    kind: str
    ref: str
    query: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("dataset", "file", "sql"):
            raise InvalidInput(f"source kind {self.kind!r} is not one of dataset, file, sql", field="source")
        if self.kind == "sql" and not self.query:
            raise InvalidInput("a SQL source needs a query: Source.sql(url, 'SELECT ...')", field="query")

    @classmethod
    def dataset(cls, ref: str) -> Source:
        """A dataset version: ``NAME`` (the latest when read) or ``NAME@v3``."""
        return cls("dataset", ref)

    @classmethod
    def file(cls, path: str | Path) -> Source:
        """A Parquet, CSV, TSV or JSON-lines file (or a directory of them), local or any fsspec URL."""
        return cls("file", str(path))

    @classmethod
    def sql(cls, url: str, query: str) -> Source:
        """The rows of ``query`` through a SQLAlchemy URL."""
        return cls("sql", url, query)

    @classmethod
    def parse(cls, value: str | Path | Source) -> Source:
        """A string is a file when it is a URL, ends in a table suffix (.parquet, .csv, .jsonl…) or names an existing
        path, else a dataset."""
        if isinstance(value, Source):
            return value
        text = str(value)
        if (isinstance(value, Path) or "://" in text or Path(text).suffix.lower() in TABLE_SUFFIXES
                or Path(text).exists()):
            return cls.file(text)
        return cls.dataset(text)

    def resolved(self, base_dir: Path) -> Source:
        """A file source with a relative local path made absolute against ``base_dir``; others unchanged."""
        if self.kind == "file" and "://" not in self.ref and not Path(self.ref).is_absolute():
            return Source("file", str((base_dir / self.ref).resolve()))
        return self

    def describe(self) -> str:
        """A one-line human description."""
        return f"dataset {self.ref}" if self.kind == "dataset" else self.ref if self.kind == "file" else \
            f"SQL query on {self.ref}"

    def to_spec(self) -> dict[str, Any]:
        """The JSON-ready spec."""
        return {"kind": self.kind, "ref": self.ref, **({"query": self.query} if self.query else {})}


@dataclass(frozen=True)
class FeatureView:
    """Features of one or more entities, read from a source whose rows carry an event timestamp.

    ``ttl`` bounds how old a value may be to count (``None``: no bound). ``schema`` lists the features; a
    point-in-time join never returns a value whose timestamp is later than the event it is joined to.
    """

    name: str
    entities: Sequence[Entity | str]
    source: str | Path | Source
    schema: Sequence[Field]
    timestamp_field: str = "event_timestamp"
    ttl: timedelta | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    kind = "feature_view"

    def __post_init__(self) -> None:
        check_name(self.name, "feature view")
        entities = [self.entities] if isinstance(self.entities, (Entity, str)) else list(self.entities)
        if not entities:
            raise InvalidInput(f"feature view {self.name!r}: give at least one entity", field="entities")
        object.__setattr__(self, "entities", tuple(entities))
        object.__setattr__(self, "source", Source.parse(self.source))
        fields = list(self.schema)
        if not fields or not all(isinstance(f, Field) for f in fields):
            raise InvalidInput(f"feature view {self.name!r}: schema must be a non-empty list of keel.features.Field",
                               field="schema")
        _check_unique([f.name for f in fields], f"feature view {self.name!r}", "feature")
        object.__setattr__(self, "schema", tuple(fields))
        check_name(self.timestamp_field, "timestamp field")
        if self.ttl is not None and (not isinstance(self.ttl, timedelta) or self.ttl <= timedelta(0)):
            raise InvalidInput(f"feature view {self.name!r}: ttl must be a positive timedelta or None", field="ttl")
        object.__setattr__(self, "tags", dict(self.tags))

    @property
    def entity_names(self) -> list[str]:
        """The names of the view's entities."""
        return [e if isinstance(e, str) else e.name for e in self.entities]

    @property
    def feature_names(self) -> list[str]:
        """The view's features in schema order."""
        return [f.name for f in self.schema]

    @property
    def src(self) -> Source:
        """The parsed source."""
        assert isinstance(self.source, Source)
        return self.source

    def to_spec(self) -> dict[str, Any]:
        """The JSON-ready spec the registry stores and diffs."""
        return {"name": self.name, "entities": self.entity_names, "source": self.src.to_spec(),
                "schema": [{"name": f.name, "dtype": f.dtype} for f in self.schema],
                "timestamp_field": self.timestamp_field,
                "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
                "tags": dict(sorted(self.tags.items())), "description": self.description}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeatureView:
        """Rebuild from :meth:`to_spec`'s output."""
        src = spec["source"]
        ttl = spec.get("ttl_seconds")
        return cls(spec["name"], tuple(spec["entities"]), Source(src["kind"], src["ref"], src.get("query")),
                   [Field(f["name"], f["dtype"]) for f in spec["schema"]], spec["timestamp_field"],
                   None if ttl is None else timedelta(seconds=ttl), spec.get("tags", {}), spec.get("description", ""))


@dataclass(frozen=True)
class RequestSource:
    """Fields that arrive with the request (or the entity DataFrame) rather than from a stored view."""

    name: str
    schema: Sequence[Field]

    def __post_init__(self) -> None:
        check_name(self.name, "request source")
        object.__setattr__(self, "schema", tuple(self.schema))


@dataclass(frozen=True)
class OnDemandFeatureView:
    """Features computed at read time by ``udf`` (pandas DataFrame in, DataFrame with ``schema``'s columns out) from
    other views' features and request fields. The function must be self-contained: it is stored as source text and
    run with ``pd`` (pandas) and ``np`` (numpy) in scope, so another process can run it too."""

    name: str
    sources: Sequence[FeatureView | RequestSource | str]
    schema: Sequence[Field]
    udf: Callable[[pd.DataFrame], pd.DataFrame]
    udf_source: str = ""
    description: str = ""

    kind = "on_demand_feature_view"

    def __post_init__(self) -> None:
        check_name(self.name, "on-demand feature view")
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "schema", tuple(self.schema))
        _check_unique([f.name for f in self.schema], f"on-demand feature view {self.name!r}", "feature")
        if not self.udf_source:
            object.__setattr__(self, "udf_source", _function_source(self.udf, self.name))

    @property
    def view_sources(self) -> list[str]:
        """Names of the feature views it reads."""
        return [s if isinstance(s, str) else s.name for s in self.sources if not isinstance(s, RequestSource)]

    @property
    def request_fields(self) -> list[Field]:
        """Fields the request must carry."""
        return [f for s in self.sources if isinstance(s, RequestSource) for f in s.schema]

    @property
    def feature_names(self) -> list[str]:
        """The computed features."""
        return [f.name for f in self.schema]

    def to_spec(self) -> dict[str, Any]:
        """The JSON-ready spec (the function travels as source text)."""
        return {"name": self.name, "views": self.view_sources,
                "request": [{"name": f.name, "dtype": f.dtype} for f in self.request_fields],
                "schema": [{"name": f.name, "dtype": f.dtype} for f in self.schema],
                "udf_name": self.udf.__name__, "udf_source": self.udf_source, "description": self.description}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> OnDemandFeatureView:
        """Rebuild, recompiling the function from its source text."""
        request = [Field(f["name"], f["dtype"]) for f in spec["request"]]
        sources: list[FeatureView | RequestSource | str] = list(spec["views"])
        if request:
            sources.append(RequestSource(f"{spec['name']}_request", request))
        udf = compile_udf(spec["udf_source"], spec["udf_name"], spec["name"])
        return cls(spec["name"], sources, [Field(f["name"], f["dtype"]) for f in spec["schema"]], udf,
                   spec["udf_source"], spec.get("description", ""))


Definition = Entity | FeatureView | OnDemandFeatureView


def on_demand_feature_view(*, sources: Sequence[FeatureView | RequestSource | str], schema: Sequence[Field],
                           name: str | None = None,
                           description: str = "") -> Callable[[Callable[[pd.DataFrame], pd.DataFrame]],
                                                              OnDemandFeatureView]:
    """Decorator form: ``@on_demand_feature_view(sources=[view, request], schema=[Field(...)])`` over the function."""
    def wrap(fn: Callable[[pd.DataFrame], pd.DataFrame]) -> OnDemandFeatureView:
        return OnDemandFeatureView(name or fn.__name__, sources, schema, fn, description=description)
    return wrap


def definition_from_spec(kind: str, spec: Mapping[str, Any]) -> Definition:
    """Rebuild any definition from its registry kind and spec."""
    classes: dict[str, Any] = {"entity": Entity, "feature_view": FeatureView,
                               "on_demand_feature_view": OnDemandFeatureView}
    return classes[kind].from_spec(spec)


def compile_udf(source: str, name: str, view: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Compile a stored on-demand function's source text; InvalidInput naming the view when it does not compile."""
    import numpy as np
    import pandas as pd

    namespace: dict[str, Any] = {"pd": pd, "np": np}
    try:
        exec(compile(source, f"<on-demand feature view {view}>", "exec"), namespace)  # noqa: S102 - our own registry
    except Exception as exc:
        raise InvalidInput(f"on-demand feature view {view!r}: its stored function does not compile ({exc}); "
                           "re-apply the definitions", field="udf") from exc
    fn = namespace.get(name)
    if not callable(fn):
        raise InvalidInput(f"on-demand feature view {view!r}: the stored source defines no function {name!r}",
                           field="udf")
    return fn


def _function_source(fn: Callable[..., Any], view: str) -> str:
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise InvalidInput(f"on-demand feature view {view!r}: the function's source is not available (defined in a "
                           "REPL?); define it in a module file", field="udf") from exc
    lines = text.splitlines()
    while lines and lines[0].lstrip().startswith("@"):  # decorators (possibly multi-line) are not part of the function
        start = lines.pop(0)
        while lines and start.count("(") > start.count(")") and not lines[0].lstrip().startswith("def "):
            start += lines.pop(0)
    return "\n".join(lines) + "\n"


def _check_unique(names: Sequence[str], owner: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"{owner}: {what} {name!r} appears twice", field="schema")
        seen.add(name)
