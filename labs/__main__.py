"""``python -m labs doctor``."""

import sys

USAGE = "usage: python -m labs doctor"


def main(argv: list[str]) -> int:
    if argv[:1] != ["doctor"]:
        print(USAGE, file=sys.stderr)
        return 2
    from labs.doctor import main as doctor

    return doctor()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
