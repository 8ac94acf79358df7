"""`make test`'s coverage gate: a table per package, failing if a gated one is under 80%."""

from __future__ import annotations

import sys

from coverage import Coverage

GATED = ("mexc", "listings", "trading", "risk")
REPORTED = (*GATED, "monitoring", "sniperbot")
MINIMUM = 80.0


def main() -> int:
    cov = Coverage()
    cov.load()
    failed = []
    print(f"\n{'package':<12} {'coverage':>9}  gate")
    for package in REPORTED:
        with open("/dev/null", "w") as sink:
            percent = cov.report(include=[f"{package}/*"], file=sink)
        gate = f">= {MINIMUM:.0f}%" if package in GATED else "-"
        verdict = "" if package not in GATED else (" ok" if percent >= MINIMUM else " FAIL")
        print(f"{package:<12} {percent:>8.1f}%  {gate}{verdict}")
        if package in GATED and percent < MINIMUM:
            failed.append(package)
    if failed:
        print(f"coverage below {MINIMUM:.0f}% in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
