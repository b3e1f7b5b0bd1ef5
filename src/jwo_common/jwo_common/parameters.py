"""Declaring a node's parameters from a settings dataclass.

Each field of a frozen dataclass is one parameter: its default, a description, and
optionally a range, choices or read-only flag in the field's metadata. Parameters are
declared once with full descriptors, read into the typed settings object, and changes at
run time are validated by the same rules with a clear reason.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter

Settings = TypeVar('Settings')

_PARAMETER_TYPES = {
    str: ParameterType.PARAMETER_STRING,
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    list[str]: ParameterType.PARAMETER_STRING_ARRAY,
    list[float]: ParameterType.PARAMETER_DOUBLE_ARRAY,
    list[int]: ParameterType.PARAMETER_INTEGER_ARRAY,
}


def param(default: Any, description: str, *, read_only: bool = False,
          min_value: float | None = None, max_value: float | None = None,
          choices: Sequence[str] | None = None) -> Any:
    """A settings field that is declared as a ROS parameter."""
    metadata = {'description': description, 'read_only': read_only, 'min': min_value,
                'max': max_value, 'choices': tuple(choices) if choices else None}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _descriptor(field: dataclasses.Field, python_type: type) -> ParameterDescriptor:
    meta = field.metadata
    description = meta['description']
    if meta['choices']:
        description += f" (one of: {', '.join(meta['choices'])})"
    descriptor = ParameterDescriptor(name=field.name, type=_PARAMETER_TYPES[python_type],
                                     description=description, read_only=meta['read_only'])
    if meta['min'] is not None and meta['max'] is not None:
        if python_type is int:
            descriptor.integer_range = [IntegerRange(from_value=int(meta['min']),
                                                     to_value=int(meta['max']), step=0)]
        elif python_type is float:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(meta['min']), to_value=float(meta['max']), step=0.0)]
    return descriptor


def _problem(field: dataclasses.Field, value: Any) -> str | None:
    meta = field.metadata
    if meta['choices'] and value not in meta['choices']:
        return f"{field.name} must be one of {', '.join(meta['choices'])}, got {value!r}"
    if meta['min'] is not None and value < meta['min']:
        return f"{field.name} must be >= {meta['min']}, got {value!r}"
    if meta['max'] is not None and value > meta['max']:
        return f"{field.name} must be <= {meta['max']}, got {value!r}"
    return None


def declare_settings(node: Node, settings_type: type[Settings],
                     on_change: typing.Callable[[Settings], None] | None = None) -> Settings:
    """Declares one parameter per field, returns the settings read back from the node.

    Values that break a field's rules are refused at start-up (ValueError naming the
    parameter) and at run time (the set request fails with the reason). `on_change`, when
    given, receives the new settings after an accepted change.
    """
    hints = typing.get_type_hints(settings_type)
    fields = {f.name: f for f in dataclasses.fields(settings_type)}
    for name, field in fields.items():
        default = field.default if field.default is not dataclasses.MISSING \
            else field.default_factory()
        descriptor = _descriptor(field, hints[name])
        if isinstance(default, list) and not default:
            # rclpy types [] as a byte array, so an empty array is declared by type alone.
            node.declare_parameter(name, Parameter.Type(descriptor.type), descriptor)
        else:
            node.declare_parameter(name, default, descriptor)

    def read() -> Settings:
        values = {name: node.get_parameter_or(name).value for name in fields}
        for name, value in values.items():
            if typing.get_origin(hints[name]) is list:
                values[name] = list(value or [])    # an array declared by type reads None
        return settings_type(**values)

    settings = read()
    for name, field in fields.items():
        problem = _problem(field, getattr(settings, name))
        if problem:
            raise ValueError(f'parameter {problem}')

    def validate(changes: list[Parameter]) -> SetParametersResult:
        for change in changes:
            if change.name in fields:
                problem = _problem(fields[change.name], change.value)
                if problem:
                    return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(validate)
    if on_change is not None:
        node.add_post_set_parameters_callback(lambda _changes: on_change(read()))
    return settings
