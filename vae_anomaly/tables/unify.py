"""One schema for the files of a directory: type promotion, partition keys and pandas index metadata.

Rules, applied file by file in read order:

- **Files without rows** take part, but never decide a type: where their
  type of a column does not promote with the others', it is ignored (they
  hold no value to convert), and they are not scanned.
- **Columns** come in the order they first appear; a column that first
  appears in a later file is appended, and is null in the files before.
- **A column missing from a file** is null in that file's rows.
- **Types** are promoted as :func:`pyarrow.unify_schemas` does with
  ``promote_options="permissive"``: null to any type, a narrower integer
  to a wider one, integer to floating point, a coarser timestamp unit to a
  finer one, list items alike; in addition a dictionary (a pandas
  ``category``) merges with its value type as that type. Anything else (a
  number in one file and text in another, timestamps with and without a
  time zone) is one :class:`~vae_anomaly.InvalidInputError` naming the
  column and the two files. Timestamps in two different time zones are
  read in UTC (the same instants).
- **Hive partition keys** (``site=north/``) are columns after the files'
  own: integers as int64 when every value of the key is a whole number,
  strings otherwise; ``__HIVE_DEFAULT_PARTITION__`` is null. A file that
  also stores a column of that name is refused, naming the column and the
  file: which of the two values a row should have is not ours to guess.
- **pandas index metadata**: a named index that pandas stored
  (``df.set_index("ts").to_parquet(...)``) is an ordinary column, ``ts``.
  An unnamed one (stored as ``__index_level_0__``) is row labels, not data:
  streamed, it is a column of that name that scoring copies through, and a
  whole read (:meth:`TableReader.read`) makes it the DataFrame's index, so
  that ``fit`` never models it. The pandas column metadata of the first file
  holding any is kept for the columns whose type no other file changed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pyarrow as pa

from ..exceptions import InvalidInputError

__all__ = ["TypeChange", "Unified", "unify_files", "merge_types", "partition_schema", "pandas_metadata",
           "UNNAMED_INDEX"]

UNNAMED_INDEX = re.compile(r"__index_level_\d+__")


@dataclass(frozen=True)
class TypeChange:
    """A column whose type differs within one table, and the type it is read as.

    Attributes
    ----------
    column : str
    first : pyarrow.DataType
        Its type in the first file (or the first CSV block).
    other : pyarrow.DataType
        The first different type met.
    where : str
        Where ``other`` was met: a file below the directory, or ``"block 3"``.
    read_as : pyarrow.DataType
        The type every row is read as.
    """

    column: str
    first: pa.DataType
    other: pa.DataType
    where: str
    read_as: pa.DataType

    def describe(self) -> str:
        """One line for a user: ``column 'id' is int64 at first but string in block 3: read as string``."""
        return (f"column {self.column!r} is {self.first} at first but {self.other} in {self.where}: "
                f"read as {self.read_as}")


@dataclass(frozen=True)
class Unified:
    """What :func:`unify_files` found: the schema, and the differences between files it absorbed."""

    schema: pa.Schema
    changes: tuple[TypeChange, ...]
    missing: dict[str, tuple[str, ...]]  # column -> files with rows that lack it (read as null there)


def merge_types(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type both ``a`` and ``b`` promote to (permissive promotion, dictionaries decoded), or None.

    Timestamps that both carry a time zone, different ones, are instants
    alike: they promote to the finer unit in UTC.
    """
    for x, y in ((a, b), (_decoded(a), _decoded(b))):
        try:
            return pa.unify_schemas([pa.schema([("c", x)]), pa.schema([("c", y)])],
                                    promote_options="permissive").field("c").type
        except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b) and a.tz and b.tz:
        finer = max((a.unit, b.unit), key=_UNITS.index)
        return pa.timestamp(finer, tz="UTC")
    return None


_UNITS = ("s", "ms", "us", "ns")


def _decoded(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def unify_files(files: list[tuple[str, pa.Schema, int]], what: str) -> Unified:
    """Unify the schemas of a directory's files (rules in the module docstring).

    Parameters
    ----------
    files : list of (str, pyarrow.Schema, int)
        Each file's name below the directory, its schema and its row count,
        in read order.
    what : str
        The directory, as messages name it.

    Returns
    -------
    Unified
        Its schema carries no metadata (see :func:`pandas_metadata`).

    Raises
    ------
    InvalidInputError
        If a file holds two columns of one name, or two files hold a column
        in types that do not promote to one; the message names the column
        and the files.
    """
    types: dict[str, pa.DataType] = {}
    seen_in: dict[str, tuple[str, pa.DataType]] = {}  # column -> (file, type) that set its current type
    weak: dict[str, bool] = {}  # set by files without rows only, whose types never decide
    firsts: dict[str, pa.DataType] = {}  # first type in a file with rows, null aside
    changes: dict[str, TypeChange] = {}
    missing: dict[str, list[str]] = {}
    with_rows: list[str] = []
    for name, schema, rows in files:
        if len(set(schema.names)) != len(schema.names):
            twice = next(n for n in schema.names if schema.names.count(n) > 1)
            raise InvalidInputError(f"{name} in {what} has more than one column named {twice!r}; rename them")
        for field in schema:
            col, new = field.name, field.type
            if col not in types:
                types[col], seen_in[col], weak[col] = new, (name, new), not rows
                if with_rows:
                    missing[col] = list(with_rows)
            elif new != types[col]:
                merged = merge_types(types[col], new)
                if merged is None and not rows:
                    continue
                if merged is None and weak[col]:
                    merged = new
                if merged is None:
                    before, old = seen_in[col]
                    raise InvalidInputError(
                        f"cannot read {what} as one table: column {col!r} is {old} in {before} but {new} in "
                        f"{name}, which do not promote to one type; cast one of them, or move {name} aside")
                first = firsts.get(col)
                if first is not None and col not in changes and merged != first:
                    changes[col] = TypeChange(col, first, new, name, merged)
                types[col], seen_in[col] = merged, (name, new)
            if rows:
                weak[col] = False
                if col not in firsts and not pa.types.is_null(new):
                    firsts[col] = new
        if rows:
            with_rows.append(name)
            for col in types.keys() - set(schema.names):
                missing.setdefault(col, []).append(name)
    schema = pa.schema([pa.field(col, t) for col, t in types.items()])
    found = tuple(TypeChange(c.column, c.first, c.other, c.where, types[c.column]) for c in changes.values())
    return Unified(schema, found, {col: tuple(names) for col, names in missing.items() if names})


def partition_schema(discovered: pa.Schema | None) -> pa.Schema:
    """The partition keys as read: integer keys as int64, the others as they were discovered (strings)."""
    if discovered is None:
        return pa.schema([])
    return pa.schema([pa.field(f.name, pa.int64() if pa.types.is_integer(f.type) else f.type)
                      for f in discovered])


def pandas_metadata(sources: list[pa.Schema], schema: pa.Schema) -> dict[bytes, bytes] | None:
    """The schema metadata for ``schema``, from the first of ``sources`` that pandas wrote.

    Named index levels become ordinary columns; unnamed ones stay the index;
    the column metadata of any column whose type changed is dropped (see the
    module docstring). The source's metadata is returned unchanged (the same
    object) when nothing needs rewriting.

    Returns
    -------
    dict or None
        None if no source carries metadata.
    """
    # A file without columns (pd.DataFrame().to_parquet) describes no column: its metadata would
    # make pandas read the others' names as numbers.
    source = next((s for s in sources if s.metadata and b"pandas" in s.metadata and len(s.names)), None)
    if source is None:
        return next((s.metadata for s in sources if s.metadata), None)
    try:
        meta = json.loads(source.metadata[b"pandas"])
        stored = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
        unnamed = sorted((n for n in schema.names if UNNAMED_INDEX.fullmatch(n)),
                         key=lambda n: int(n.strip("_").rsplit("_", 1)[-1]))
        index = unnamed if unnamed else [c for c in meta.get("index_columns", []) if not isinstance(c, str)]
        columns = [c for c in meta.get("columns", [])
                   if c.get("field_name") in schema.names and c.get("field_name") in source.names
                   and source.field(c["field_name"]).type == schema.field(c["field_name"]).type]
    except (ValueError, TypeError, AttributeError, KeyError):
        return None  # metadata pandas cannot use either: read the columns as Arrow types
    if index == meta.get("index_columns") and columns == meta.get("columns") and set(stored) <= set(unnamed):
        return source.metadata
    fixed = {**meta, "index_columns": index, "columns": columns}
    return {**source.metadata, b"pandas": json.dumps(fixed).encode()}
