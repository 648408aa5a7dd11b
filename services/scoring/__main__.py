from services.runtime.http import run

from .app import definition


def main() -> None:
    run(definition())


if __name__ == "__main__":
    main()
