import pytest
from hypothesis import given, settings, strategies as st

from symbp.checking.derivation import load
from symbp.errors import DerivationError

GOOD = '''title = "t"
[network]
activation = "sigmoid"
architectures = [[2, 2, 2]]

[[define]]
name = "delta"
indices = "l, j"
cases = [
  { when = "l == L", value = "d(e)/d(z[L,j])" },
  { value = "gprime[l](z[l,j]) * sum(W[l+1,k,j] * delta[l+1,k], (k, 1, n[l+1]))" },
]

[[claim]]
id = "(1)"
statement = "d(e)/d(z[l,j]) = delta[l,j]"
ranges = "(l, 1, L), (j, 1, n[l])"
'''


def write(tmp_path, text, name="d.toml"):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_loads(tmp_path):
    d = load(write(tmp_path, GOOD))
    assert [c.id for c in d.claims] == ["(1)"] and "delta" in d.scope.definitions


@pytest.mark.parametrize(
    "edit, message, line",
    [
        (('statement = "d(e)', 'statement = "foo[l] + d(e)'), "claim (1): unknown name 'foo'", 16),
        (('ranges = "(l, 1, L), (j, 1, n[l])"', 'ranges = "(l, 1, L)"'), "free index 'j' has no range", 16),
        (('id = "(1)"', 'id = "(1)"\ncolour = "red"'), "unknown key 'colour' in [[claim]]", 16),
        (('statement = "d(e)', 'statement = "__import__(1) + d(e)'), "not a valid name", 16),
        (('statement = "d(e)/d(z[l,j]) = delta[l,j]"', 'statement = "d(e)/d(z[l,j])"'), "one equation 'left = right'", 16),
        (('{ when = "l == L", value = "d(e)/d(z[L,j])" },\n', ''), "recursive but has no base case", 0),
        (('activation = "sigmoid"', 'activation = "swash"'), "unknown activation 'swash'", 3),
        (('architectures = [[2, 2, 2]]', 'architectures = [[2, 0]]'), "architectures must be", 4),
        (('[[claim]]', '[[claim]]\nexpect = "maybe"'), "expect must be one of", 0),
        (('title = "t"', 'title = "t"\nexec = 1'), "unknown key 'exec' in the file", 2),
    ],
)
def test_malformed_files_name_file_line_and_claim(tmp_path, edit, message, line):
    old, new = edit
    assert old in GOOD
    f = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(DerivationError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")) as exc:
        load(f)
    text = str(exc.value)
    assert text.startswith(str(f))
    if line:
        assert text.startswith(f"{f}:{line}:"), text
    assert "\n" not in text


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(DerivationError, match="not valid TOML"):
        load(write(tmp_path, "title = \n"))
    with pytest.raises(DerivationError, match="cannot read"):
        load(tmp_path / "missing.toml")
    with pytest.raises(DerivationError, match="at least one"):
        load(write(tmp_path, 'title = "t"\n[network]\n'))


LINES = GOOD.splitlines()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_mutated_files_give_clean_errors(tmp_path_factory, data):
    """Random line deletions, duplications and character edits: a DerivationError or a clean load, nothing else."""
    lines = list(LINES)
    for _ in range(data.draw(st.integers(1, 4))):
        k = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "edit"]))
        if action == "delete":
            del lines[k]
        elif action == "duplicate":
            lines.insert(k, lines[k])
        else:
            s = lines[k]
            pos = data.draw(st.integers(0, len(s)))
            char = data.draw(st.sampled_from(list("[](),=\"' xyz0129_.+-*/@:;\\{}") + ["__import__", "os.system", "\n"]))
            lines[k] = s[:pos] + char + s[pos:]
    f = tmp_path_factory.mktemp("fuzz") / "d.toml"
    f.write_text("\n".join(lines))
    try:
        load(f)
    except DerivationError as exc:
        assert str(exc).startswith(str(f))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(tmp_path_factory, blob):
    f = tmp_path_factory.mktemp("bytes") / "d.toml"
    f.write_bytes(blob)
    with pytest.raises(DerivationError):
        load(f)
