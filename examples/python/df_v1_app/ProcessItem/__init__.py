import logging

from ..shared_code import work


def main(item: int) -> int:
    logging.info("processing item %d", item)
    return work.weigh(item)
