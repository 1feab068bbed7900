"""The optional pip-audit step: a clear SKIPPED when no database answers, a failure on a known vulnerability."""
from __future__ import annotations

import importlib.util

import pytest

from marketplace import PROJECT_ROOT


@pytest.fixture
def audit():
    spec = importlib.util.spec_from_file_location("coop_audit", PROJECT_ROOT / "scripts" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


UNREACHABLE = {"dependencies": [{"name": "flask", "version": "3.1.0", "skip_reason": "Dependency not found on PyPI"}]}
CLEAN = {"dependencies": [{"name": "flask", "version": "3.1.0", "vulns": []}]}
VULNERABLE = {"dependencies": [{"name": "flask", "version": "2.2.4", "vulns": [
    {"id": "PYSEC-2023-62", "fix_versions": ["2.2.5", "2.3.2"], "description": "cookie"}]}]}


@pytest.mark.parametrize("reports,code,said", [
    ({"pypi": (UNREACHABLE, ""), "osv": (None, "ConnectionError: Failed to resolve")}, 0, "SKIPPED"),
    ({"pypi": (None, "no answer within 120 s"), "osv": (CLEAN, "")}, 0, "1 dependencies checked, 0 with"),
    ({"pypi": (VULNERABLE, ""), "osv": (CLEAN, "")}, 1, "PYSEC-2023-62 (fixed in 2.2.5, 2.3.2)"),
])
def test_the_audit_step_skips_passes_or_fails_and_says_which(audit, monkeypatch, capsys, reports, code, said):
    monkeypatch.delenv("COOP_AUDIT", raising=False)
    monkeypatch.setattr(audit, "run_audit", lambda service: reports[service])
    assert audit.main() == code
    assert said in capsys.readouterr().out


def test_the_audit_step_is_wired_into_ci_before_the_tests_and_bounded():
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert ci.index("scripts/audit.py") < ci.index("scripts/test.sh")
    assert "timeout 300 .venv/bin/python scripts/audit.py" in ci
    assert '"pip-audit' in (PROJECT_ROOT / "pyproject.toml").read_text()
