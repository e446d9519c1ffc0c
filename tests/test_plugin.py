HEADER = '''title = "t"
[network]
architectures = [[2, 2]]
'''
GOOD = '''
[[claim]]
id = "(1)"
statement = "d(e)/d(b[1,j]) = a[1,j] - y[j]"
ranges = "(j, 1, n[1])"
'''
BAD = '''
[[claim]]
id = "(2)"
statement = "d(e)/d(b[1,j]) = y[j] - a[1,j]"
ranges = "(j, 1, n[1])"
'''


def test_each_claim_is_a_test_item_and_failures_have_no_traceback(pytester):
    pytester.mkdir("derivations")
    (pytester.path / "derivations" / "d.toml").write_text(HEADER + GOOD + BAD)
    result = pytester.runpytest("derivations")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "claim (2): d(e)/d(b[1,j]) = y[j] - a[1,j]" in out
    assert "verdict: fails, expected: holds" in out and "residual" in out
    assert "likely fix: the right side has the wrong sign: -(y[j] - a[1, j])" in out
    assert "Traceback" not in out and "symbp/check.py" not in out


def test_a_broken_file_is_a_collection_error_naming_the_line(pytester):
    pytester.mkdir("derivations")
    (pytester.path / "derivations" / "d.toml").write_text(HEADER + GOOD.replace("b[1,j]", "nope[1,j]"))
    result = pytester.runpytest("derivations")
    assert result.ret != 0
    assert "unknown name 'nope'" in result.stdout.str()


def test_other_toml_files_are_not_collected(pytester):
    (pytester.path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    result = pytester.runpytest("pyproject.toml")
    result.assert_outcomes()


def test_a_claim_not_proved_for_every_width_passes_with_a_warning_that_says_so(pytester):
    proved = GOOD.replace('id = "(1)"', 'id = "(1)"\nall_widths = true')
    matrix = ('\n[[claim]]\nid = "(3)"\nall_widths = true\nform = "matrix"\n'
              'statement = "d(e)/d(b[1]) = a[1] - y"\n')
    pytester.mkdir("derivations")
    (pytester.path / "derivations" / "d.toml").write_text(HEADER + proved + matrix)
    result = pytester.runpytest("derivations", "-W", "default")
    result.assert_outcomes(passed=2, warnings=1)
    out = result.stdout.str()
    assert "claim (3): checked only at 2-2; not proved for every width: it is written in matrix form" in out
    assert "claim (1):" not in out
