import shutil

from chvoice_core.version import CODE_VERSION, RELEASE, _PACKAGE, code_digest


def test_cache_stamp_is_a_digest_of_the_code_that_builds_artifacts(tmp_path):
    pkg = tmp_path / "chvoice_core"
    shutil.copytree(_PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__", "assets"))
    (pkg / "assets").mkdir()
    base = code_digest(pkg)
    assert CODE_VERSION.startswith(RELEASE + "+") and len(base) == 12
    (pkg / "cli" / "parser.py").write_text((pkg / "cli" / "parser.py").read_text() + "\n# a comment in the command line\n")
    assert code_digest(pkg) == base                   # the CLI builds nothing that is cached
    (pkg / "data" / "mixing.py").write_text((pkg / "data" / "mixing.py").read_text() + "\n# changed\n")
    assert code_digest(pkg) != base                   # the data does
    changed = code_digest(pkg)
    (pkg / "families.py").write_text((pkg / "families.py").read_text() + "\n# changed\n")
    assert code_digest(pkg) != changed                # how each model family runs: scores depend on it
    (pkg / "assets" / "default.pt").write_bytes(b"another model")
    assert code_digest(pkg) not in (base,)
