"""The pages' code without a browser: node's test runner on their pure functions (tests/web/), and
ESLint on every page script. Skipped without node and `npm ci`; CI requires them (POETS_REQUIRE_BROWSER)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
ESLINT = ROOT / "node_modules" / ".bin" / "eslint"
MISSING = [what for what, there in (("node", shutil.which("node")), ("eslint (npm ci)", ESLINT.exists())) if not there]
if MISSING and os.environ.get("POETS_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"POETS_REQUIRE_BROWSER=1 but missing: {', '.join(MISSING)}")
needs_node = pytest.mark.skipif(bool(MISSING), reason=f"missing: {', '.join(MISSING)}")


@needs_node
def test_the_pages_pure_functions_pass_node_test():
    result = subprocess.run(["node", "--test", "tests/web/"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout


@needs_node
def test_eslint_finds_nothing_in_the_pages_code(tmp_path):
    result = subprocess.run([str(ESLINT), "poets/apps/web", "tests/web", "eslint.config.mjs"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
