"""Run the `campaign` command from a checkout: `python cli.py validate rules/`."""

from rules_engine.cli import main

if __name__ == "__main__":
    main()
