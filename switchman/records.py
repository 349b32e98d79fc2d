"""Frozen value classes without `dataclasses`, for modules on the git-hook hot path.

`@dataclass` is paid per class at import (it `exec`s `__init__`, `__repr__`, `__eq__`,
`__hash__`, `__setattr__` and builds a signature for `__doc__`), and importing `dataclasses`
pulls in `inspect`/`ast`/`dis`: together a large share of a commit hook's start-up
(benchmarks/README.md). A `Record` subclass declares its fields as annotations, like a dataclass, and costs
nothing at import; its `__init__` is compiled on first instantiation (so classes a hook never
builds never pay), and it behaves like a frozen dataclass: keyword/positional construction,
defaults (`factory(list)` for `field(default_factory=list)`), `__repr__`, `__eq__`, `__hash__`,
immutability (`FrozenInstanceError`), `__dict__`, and `asdict`/`fields` helpers.
`models.to_dict`/`from_row` accept records and dataclasses alike.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (like `dataclasses.FrozenInstanceError`)."""


class _Factory:
    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        self.fn = fn


def factory(fn: Any) -> Any:
    """A default built per instance: `items: list[str] = factory(list)`."""
    return _Factory(fn)


_COMPILE_AFTER = 32


class Record:
    """Base class: subclass with annotated fields (`class Change(Record): path: str ...`).

    `class X(Record, frozen=False)` makes a mutable record (no `__hash__`, like a non-frozen
    dataclass with `eq=True`).
    """

    __record_fields__: tuple[str, ...] = ()
    __record_defaults__: dict[str, Any] = {}  # replaced per subclass
    __record_frozen__: bool = True

    def __init_subclass__(cls, frozen: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: list[str] = []
        defaults: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            for name in base.__dict__.get("__record_fields__", ()):
                if name not in names:
                    names.append(name)
            defaults.update(base.__dict__.get("__record_defaults__", {}))
        for name, ann in cls.__dict__.get("__annotations__", {}).items():
            if isinstance(ann, str) and ann.replace("typing.", "").startswith("ClassVar"):
                continue
            if name not in names:
                names.append(name)
            if name in cls.__dict__:
                value = cls.__dict__[name]
                defaults[name] = value
                if isinstance(value, _Factory):
                    delattr(cls, name)
        seen_default = False
        for name in names:
            if name in defaults:
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {name!r} follows default argument")
        cls.__record_fields__ = tuple(names)
        cls.__record_defaults__ = defaults
        cls.__record_frozen__ = frozen
        cls.__match_args__ = tuple(names)
        if "__init__" not in cls.__dict__:
            cls.__init__ = Record.__init__  # type: ignore[method-assign]
        if not frozen:
            cls.__hash__ = None  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Generic: fill __dict__ from the field list. A class built often (a path change, an audit
        # row) gets a compiled __init__ after _COMPILE_AFTER instances: compiling costs more than
        # a class built a few times per hook ever saves.
        cls = type(self)
        count = cls.__dict__.get("__record_built__", 0) + 1
        if count > _COMPILE_AFTER:
            init = _compile_init(cls)
            cls.__init__ = init  # type: ignore[method-assign]
            init(self, *args, **kwargs)
            return
        type.__setattr__(cls, "__record_built__", count)
        names = cls.__record_fields__
        if len(args) > len(names):
            raise TypeError(f"{cls.__qualname__}() takes {len(names)} positional arguments but {len(args)} were given")
        d = self.__dict__
        for name, value in zip(names, args, strict=False):
            d[name] = value
        for name, value in kwargs.items():
            if name in d or name not in names:
                what = "multiple values for argument" if name in d else "an unexpected keyword argument"
                raise TypeError(f"{cls.__qualname__}() got {what} {name!r}")
            d[name] = value
        if len(d) < len(names):
            defaults = cls.__record_defaults__
            for name in names:
                if name not in d:
                    if name not in defaults:
                        raise TypeError(f"{cls.__qualname__}() missing required argument: {name!r}")
                    value = defaults[name]
                    d[name] = value.fn() if isinstance(value, _Factory) else value

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self).__record_frozen__:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if type(self).__record_frozen__:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        object.__delattr__(self, name)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in type(self).__record_fields__)
        return f"{type(self).__qualname__}({inner})"

    def _astuple(self) -> tuple[Any, ...]:
        d = self.__dict__
        return tuple(d[n] for n in type(self).__record_fields__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._astuple() == other._astuple()  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._astuple())


def _compile_init(cls: type) -> Any:
    names: tuple[str, ...] = cls.__record_fields__  # type: ignore[attr-defined]
    defaults: dict[str, Any] = cls.__record_defaults__  # type: ignore[attr-defined]
    params: list[str] = []
    body: list[str] = []
    env: dict[str, Any] = {"_Factory": _Factory}
    for i, name in enumerate(names):
        if name in defaults:
            env[f"_d{i}"] = defaults[name]
            if isinstance(defaults[name], _Factory):
                params.append(f"{name}=_MISSING")
                body.append(f"  d[{name!r}] = _d{i}.fn() if {name} is _MISSING else {name}")
                continue
            params.append(f"{name}=_d{i}")
        else:
            params.append(name)
        body.append(f"  d[{name!r}] = {name}")
    env["_MISSING"] = _MISSING
    src = f"def __init__(self, {', '.join(params)}):\n  d = self.__dict__\n" + ("\n".join(body) or "  pass") + "\n"
    if not names:
        src = "def __init__(self):\n  pass\n"
    exec(src, env)  # generated from field names, as dataclasses does
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


_MISSING: Any = object()


def fields(obj_or_cls: Any) -> tuple[str, ...]:
    """Field names, in declaration order, of a record or a dataclass (instance or class)."""
    names = getattr(obj_or_cls, "__record_fields__", None)
    if names is not None:
        return names  # type: ignore[no-any-return]
    import dataclasses

    return tuple(f.name for f in dataclasses.fields(obj_or_cls))


def is_record(obj: Any) -> bool:
    return isinstance(obj, Record)


def asdict(obj: Any) -> Any:
    """Like `dataclasses.asdict`: records (and lists, tuples, dicts of them) to plain dicts."""
    if isinstance(obj, Record):
        return {n: asdict(getattr(obj, n)) for n in type(obj).__record_fields__}
    if isinstance(obj, list):
        return [asdict(x) for x in obj]
    if isinstance(obj, tuple):
        return type(obj)(asdict(x) for x in obj) if not hasattr(obj, "_fields") else type(obj)(*[asdict(x) for x in obj])
    if isinstance(obj, dict):
        return {asdict(k): asdict(v) for k, v in obj.items()}
    if hasattr(obj, "__dataclass_fields__") and not isinstance(obj, type):
        import dataclasses

        return dataclasses.asdict(obj)
    return obj
