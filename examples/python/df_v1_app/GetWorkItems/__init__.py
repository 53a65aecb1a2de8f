import logging

import azure.functions as func

from ..shared_code import work


def main(size: int, context: func.Context) -> list:
    logging.info("%s: a batch of %d items", context.function_name, size)
    return work.batch(size)
