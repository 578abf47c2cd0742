"""`python -m benchmarks.run_service billing [--experiment a+b]`: the service's own `main`, with experiments applied.

Lets the process measurements (latency, rebuild, RSS) be repeated for a candidate kit change without editing
the kit. Without --experiment, the benchmark runs `python -m billing` itself, not this wrapper.
"""

from __future__ import annotations

import argparse
import importlib

from benchmarks import experiments


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_service")
    parser.add_argument("service", choices=["billing", "enrolment"])
    parser.add_argument("--experiment", default="")
    args = parser.parse_args()
    names = [name for name in args.experiment.split("+") if name]
    experiments.check(names)
    service_main = importlib.import_module(f"{args.service}.__main__").main
    with experiments.applied(names):
        service_main()


if __name__ == "__main__":
    main()
