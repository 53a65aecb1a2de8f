"""The work the fan-out/fan-in orchestration spreads over its activities."""


def batch(size: int) -> list:
    return list(range(1, size + 1))


def weigh(item: int) -> int:
    return item * item
