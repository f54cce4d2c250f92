"""`hf-pricer sanity`: check an entity-value predictions CSV as the Amazon ML Challenge 2024 checker does.

    hf-pricer sanity --test_filename test.csv --output_filename predictions.csv

(also installed as `hf-pricer-sanity`).

Exits with status 0 and a summary when the file would be accepted, 1 and the list of problems otherwise.
"""

from __future__ import annotations

import argparse
import sys

from hf_pricer.data.entities import SanityCheckError, sanity_check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hf-pricer sanity", description=__doc__.splitlines()[0])
    parser.add_argument("--test_filename", required=True, help="the test CSV (index, ..., entity_name)")
    parser.add_argument("--output_filename", required=True, help="the predictions CSV (index, prediction)")
    args = parser.parse_args(argv)
    try:
        result = sanity_check(args.test_filename, args.output_filename)
    except SanityCheckError as error:
        print(error, file=sys.stderr)
        return 1
    print(
        f"Parsing successful for {args.output_filename}: {result['rows']} rows, {result['empty']} empty predictions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
