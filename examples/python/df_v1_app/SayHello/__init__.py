# An activity: its input arrives as the parameter named after the binding in function.json.
from shared_code.greetings import greeting


def main(city: str) -> str:
    return greeting(city)
