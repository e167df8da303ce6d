"""The checks every settings dataclass shares (run settings in ``bvae_tf.config``, data settings in
``bvae_tf.data.config``): kept here so that neither imports the other for them."""

import dataclasses
import math
import typing

from bvae_tf.errors import UserError

MAX_SEED = 2**32 - 1  # NumPy's legacy seeding, sklearn's random_state and Keras' set_random_seed take no more
MAX_INT32 = 2**31 - 1  # TensorFlow's shapes and batch sizes


def flag_name(field):
    """The command-line flag of a settings field: ``batch_size`` -> ``--batch-size``."""
    return "--" + field.replace("_", "-")


def _require(condition, message):
    if not condition:
        raise UserError(message)


def _check_positive(config, fields):
    for field in fields:
        value = getattr(config, field)
        _require(math.isfinite(value), f"{flag_name(field)} must be a finite number, got {value}")
        _require(value > 0, f"{flag_name(field)} must be positive, got {value}")


def _number(field, value, kind):
    """``value`` as exactly ``kind`` (int or float), or a UserError naming the flag of ``field``."""
    if isinstance(value, bool):
        raise UserError(f"{flag_name(field)} must be a number, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{flag_name(field)} must be a number, got {value!r}") from None
    _require(kind is float or number == value, f"{flag_name(field)} must be an integer, got {value!r}")
    return number


def _coerce_numbers(config):
    """Turn the int and float fields of a frozen dataclass into exactly those types (from Python,
    ``beta=5`` must give the same config.json as ``--beta 5``)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        kind = next((t for t in (field.type, *typing.get_args(field.type)) if t in (int, float)), None)
        if kind is None or value is None or isinstance(value, bool):
            continue
        object.__setattr__(config, field.name, _number(field.name, value, kind))


def _check_range(config, fields, low, high):
    for field in fields:
        value = getattr(config, field)
        _require(low <= value <= high, f"{flag_name(field)} must be between {low} and {high}, got {value}")
