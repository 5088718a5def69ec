"""``python -m atg_dataplane``: the same as the ``atg-dataplane`` command."""

from atg_dataplane.cli import main

if __name__ == "__main__":
    main()
