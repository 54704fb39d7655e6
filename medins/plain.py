"""A model built from plain data (a TOML table) without building pydantic's validator.

Building a model's validator costs more than a whole quick estimate, and a case file read once needs
it only when something in it is wrong. :func:`construct` checks a mapping with the model's own field
types and validators (the ``BeforeValidator`` functions of :mod:`medins.types`, patterns, literals,
lengths, the ``model_validator(mode="after")`` methods) and builds the models with
``model_construct``. It accepts only what pydantic accepts unchanged: values of the plain types a
TOML file holds (``str``, ``bool``, ``int``, ``Decimal``, ``date``, lists and tables); anything else
(a missing or unknown key, a value of another type, a validator that refuses) makes it return None,
and the caller validates with pydantic, whose error it reports as before.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from annotated_types import MaxLen, MinLen
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

M = TypeVar("M", bound=BaseModel)


class _Declined(Exception):
    """A value the plain path does not take as it is: pydantic validates the mapping instead."""


class _Unsupported(Exception):
    """A field type the plain path does not know: the model is always validated by pydantic."""


Check = Callable[[Any], Any]

Plan = tuple[dict[str, tuple[str, Check]], list[str], dict[str, Callable[[], Any]], list[Callable[[Any], Any]]]
_PLANS: dict[type[BaseModel], Plan | None] = {}


def construct(model: type[M], data: Any) -> M | None:
    """``model`` built from ``data`` as ``model.model_validate(data)`` would build it; None when the
    mapping is not of the plain form this path takes (pydantic then validates it and says what is wrong).
    """
    try:
        return _model(model)(data)
    except Exception:  # declined, or a validator refused: pydantic validates it and says why
        return None


def _plan(model: type[BaseModel]) -> Plan:
    """The checks of a model's fields, by the keys a mapping may give them, and its after-validators."""
    if model in _PLANS:
        plan = _PLANS[model]
        if plan is None:
            raise _Unsupported(model.__name__)
        return plan
    _PLANS[model] = None  # while building, and for good if anything of the model is unknown here
    decorators = model.__pydantic_decorators__
    odd = set(model.model_config) - _PLAIN_CONFIG
    if odd or model.__private_attributes__ or decorators.field_validators or decorators.validators:
        raise _Unsupported(model.__name__)
    after = []
    for decorator in decorators.model_validators.values():
        if decorator.info.mode != "after":
            raise _Unsupported(model.__name__)
        after.append(decorator.func)
    keys: dict[str, tuple[str, Check]] = {}
    for name, info in model.model_fields.items():
        if info.validate_default or info.validation_alias not in (None, info.alias):
            raise _Unsupported(f"{model.__name__}.{name}")
        check = _check(info.annotation, info.metadata)
        keys[info.alias or name] = (name, check)
        if info.alias and info.alias != name and model.model_config.get("populate_by_name"):
            keys[name] = (name, check)
    required = [name for name, info in model.model_fields.items() if info.is_required()]
    defaults = {name: _default(info) for name, info in model.model_fields.items() if not info.is_required()}
    plan = (keys, required, defaults, after)
    _PLANS[model] = plan
    return plan


# settings of a model that do not change what a plain value validates to
_PLAIN_CONFIG = {"frozen", "extra", "populate_by_name", "validate_by_name", "validate_by_alias", "defer_build", "title"}


def _default(info: FieldInfo) -> Callable[[], Any]:
    """What a field holds when it is not given, made as pydantic makes it (without asking, as
    ``model_construct`` does, whether each factory takes the data: a slow question for ``list``)."""
    factory = info.default_factory
    if factory is None:
        if type(info.default) not in _IMMUTABLE:
            raise _Unsupported(repr(info))
        return lambda: info.default
    if factory in (list, dict):
        return factory  # type: ignore[return-value]
    if _a_model(factory):  # ``default_factory=Accum``: called, it would build Accum's validator
        build = _model(factory)
        return lambda: build({})
    raise _Unsupported(repr(info))


_IMMUTABLE = (type(None), str, bool, int, Decimal, date)


def _a_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _model(model: type[M]) -> Callable[[Any], M]:
    _plan(model)  # refuse an unsupported model before any data is read

    def build(value: Any) -> M:
        keys, required, defaults, after = _plan(model)
        if type(value) is not dict:
            raise _Declined
        values: dict[str, Any] = {}
        names: set[str] = set()
        for key, item in value.items():
            if key not in keys:
                raise _Declined
            name, check = keys[key]
            if name in names:  # given by its alias and by its name
                raise _Declined
            names.add(name)
            values[key] = check(item)
        if any(name not in names for name in required):
            raise _Declined
        for name, default in defaults.items():
            if name not in names:
                values[name] = default()
        built = model.model_construct(names, **values)
        for validator in after:
            if validator(built) is not built:
                raise _Declined
        return built

    return build


def _check(annotation: Any, metadata: list[Any]) -> Check:
    """A check for one field type: the value as the model holds it, or ``_Declined``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _check(args[0], [*args[1:], *metadata])
    before: list[Callable[[Any], Any]] = []
    rest: list[Callable[[Any], None]] = []
    metadata = list(metadata)
    for item in metadata:  # grows by the constraints of a nested Field(...)
        if isinstance(item, BeforeValidator):
            before.append(item.func)
        elif isinstance(item, FieldInfo):  # Field(...) inside Annotated: its constraints, in order
            metadata.extend(item.metadata)
        elif isinstance(item, MaxLen):
            rest.append(_at_most(item.max_length))
        elif isinstance(item, MinLen):
            rest.append(_at_least(item.min_length))
        elif type(item).__name__ == "_PydanticGeneralMetadata" and set(vars(item)) == {"pattern"}:
            rest.append(_matching(item.pattern))
        else:
            raise _Unsupported(repr(item))
    base = _base(annotation)

    def check(value: Any) -> Any:
        for func in reversed(before):  # pydantic applies the outermost BeforeValidator first
            value = func(value)
        value = base(value)
        for constraint in rest:
            constraint(value)
        return value

    return check if before or rest else base


def _base(annotation: Any) -> Check:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return _same
    if origin in (typing.Union, _UnionType) and type(None) in args:
        others = [a for a in args if a is not type(None)]
        if len(others) != 1:
            raise _Unsupported(repr(annotation))
        inner = _check(others[0], [])
        return lambda value: None if value is None else inner(value)
    if origin is typing.Literal:
        if not all(type(a) is str for a in args):
            raise _Unsupported(repr(annotation))
        allowed = frozenset(args)
        return lambda value: value if type(value) is str and value in allowed else _decline()
    if origin is list:
        (element,) = args
        inner = _check(element, [])
        return lambda value: [inner(v) for v in value] if type(value) is list else _decline()
    if origin is dict:
        key, element = args
        if key is not str:
            raise _Unsupported(repr(annotation))
        inner = _check(element, [])
        return lambda value: _table(value, inner)
    if _a_model(annotation):
        return _model(annotation)
    if annotation in _EXACT:
        return _exactly(annotation)
    raise _Unsupported(repr(annotation))


_UnionType = type(int | None)
# types taken as they are, as pydantic returns an instance of exactly that type unchanged
_EXACT = (str, bool, int, Decimal, date)


def _exactly(kind: type) -> Check:
    if kind is Decimal:
        return lambda value: value if type(value) is Decimal and value.is_finite() else _decline()
    return lambda value: value if type(value) is kind else _decline()


def _same(value: Any) -> Any:
    return value


def _decline() -> Any:
    raise _Declined


def _table(value: Any, inner: Check) -> dict[str, Any]:
    if type(value) is not dict or not all(type(k) is str for k in value):
        raise _Declined
    return {k: inner(v) for k, v in value.items()}


def _at_most(length: int) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if len(value) > length:
            raise _Declined

    return check


def _at_least(length: int) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if len(value) < length:
            raise _Declined

    return check


def _matching(pattern: str) -> Callable[[Any], None]:
    compiled = re.compile(pattern)

    def check(value: Any) -> None:
        # text pydantic's regex engine reads as this one does: ASCII, and matched in full
        if not (value.isascii() and compiled.fullmatch(value)):
            raise _Declined

    return check
