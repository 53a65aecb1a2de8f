"""Code shared by several functions, outside the function folders."""


def greeting(city: str) -> str:
    return f"Hello {city}!"
