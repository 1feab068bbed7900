"""Check the installed dependencies against a public vulnerability database (pip-audit), if one answers.

Run with the project's virtualenv: `.venv/bin/python scripts/audit.py`. Exit 0 when nothing known is
found, or when no database can be reached (then it says so: the audit was skipped, not passed);
exit 1 when a dependency has a known vulnerability. Bounded in time: it never hangs CI.
Set COOP_AUDIT=skip to skip it on purpose.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

SERVICES = ("pypi", "osv")  # PyPI's JSON API first, then OSV
TIMEOUT_S = 120  # per service: at worst four minutes in all
SOCKET_TIMEOUT_S = "10"


def run_audit(service: str) -> tuple[dict | None, str]:
    """pip-audit's JSON report with one service, or None and the reason it could not run."""
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off",
               "--skip-editable", "--timeout", SOCKET_TIMEOUT_S, "--vulnerability-service", service]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except FileNotFoundError:
        return None, "pip-audit is not installed"
    except subprocess.TimeoutExpired:
        return None, f"no answer within {TIMEOUT_S} s"
    try:
        return json.loads(done.stdout), ""
    except ValueError:
        return None, (done.stderr.strip().splitlines() or ["no report"])[-1][:300]


def audited(report: dict) -> list[dict]:
    """The dependencies the database actually knew about (the others were skipped, e.g. not reachable)."""
    return [d for d in report.get("dependencies", []) if "skip_reason" not in d]


def main() -> int:
    if os.environ.get("COOP_AUDIT", "").lower() == "skip":
        print("pip-audit: skipped (COOP_AUDIT=skip).")
        return 0
    reasons = []
    for service in SERVICES:
        report, reason = run_audit(service)
        if report is not None and audited(report):
            vulnerable = [d for d in audited(report) if d.get("vulns")]
            for dep in vulnerable:
                for vuln in dep["vulns"]:
                    fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
                    print(f"pip-audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
            print(f"pip-audit ({service}): {len(audited(report))} dependencies checked, "
                  f"{len(vulnerable)} with a known vulnerability.")
            return 1 if vulnerable else 0
        reasons.append(f"{service}: {reason or 'no dependency could be looked up'}")
    print("pip-audit: SKIPPED, no vulnerability database could be reached (" + "; ".join(reasons) + "). "
          "Dependencies were NOT checked; run `.venv/bin/python scripts/audit.py` where PyPI's JSON API "
          "or the OSV database answers.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
