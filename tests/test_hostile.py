"""Hostile input, one case per class of issue 18: each ends in its exact message, code and position, in bounded
time and memory.

The bound is the test's own: :func:`bounded` runs the code in a forked child with an address-space limit
and kills it after a timeout (a hang or a blow-up fails the test instead of stalling the suite); the
command line runs in a subprocess with a timeout. Nothing here asserts a duration. Expected values are
written out by hand, or come from transformers (its config classes and the models it builds).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import traceback

import pytest

from gallery.cli import main
from gallery.derive import FAMILIES, derive_arch
from gallery.derive.config import EXPECT, DerivationError
from gallery.lint import lint_paths
from gallery.loader import load_text
from gallery.trial import TrialError, parse_config, spec_from_config

from .conftest import BASE, ROOT, SPEC_DIR
from .reference import reference_param_count

# the ``folder`` fixture copies BASE's spec; the lines the cases below edit, 1-based
_LINES = (SPEC_DIR / f"{BASE}.yaml").read_text().splitlines()
D_LINE = _LINES.index("  d_model: 576") + 1
CONFIG_LINE = _LINES.index(f"  config: configs/{BASE}.json") + 1
SECONDS, EXTRA_MB = 30, 512
TRANSFORMERS_NULL = "the config class of model_type"


def _run_bounded(conn, fn, args):
    vm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize"))
    limit = vm * 1024 + EXTRA_MB * 2**20  # what the process has mapped already, plus a fixed budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as the test's failure
        conn.send(("raised", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def bounded(fn, *args):
    """``fn(*args)`` in a forked child with at most EXTRA_MB more memory and SECONDS of time; its result."""
    parent, child = multiprocessing.get_context("fork").Pipe()
    proc = multiprocessing.get_context("fork").Process(target=_run_bounded, args=(child, fn, args))
    proc.start()
    try:
        if not parent.poll(SECONDS):
            pytest.fail(f"{fn.__name__} did not finish within {SECONDS} s")
        status, value = parent.recv()
    finally:
        proc.kill()
        proc.join()
    assert status == "ok", value
    return value


def _refusal(fn, *args) -> list[str]:
    """The lines of the DerivationError or TrialError ``fn(*args)`` raises (a picklable result for the child)."""
    try:
        fn(*args)
    except (DerivationError, TrialError) as exc:
        return exc.lines
    raise AssertionError(f"{fn.__name__} accepted the input")


def _lint(folder):
    return [str(p) for p in lint_paths([folder])]


def _spec_with(folder, old: str, new: str):
    path = folder / f"{BASE}.yaml"
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    return path


D_MODEL = "  d_model: 576\n"
CONFIG = f"  config: configs/{BASE}.json\n"


def _laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


# --- YAML: lint and the loader ------------------------------------------------------------------


def test_alias_expansion_is_refused_before_any_walk(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs())  # 9 levels: 9**10 nodes once expanded
    assert bounded(_lint, path) == [
        f"{path}:1:5: a0: anchors and aliases (&a0, *a0) are not used in specs: write the value out [Y005]"]


def test_an_alias_in_a_real_spec_is_refused_where_it_is(folder):
    path = _spec_with(folder, D_MODEL, "  d_model: 576\n  vocab_size_copy: *nothing\n")
    # the line after d_model's, after two spaces, the 15 characters of the key and ": ": column 20
    assert [p for p in bounded(_lint, folder) if "[Y005]" in p] == [
        f"{path}:{D_LINE + 1}:20: arch.vocab_size_copy: anchors and aliases (&nothing, *nothing) are not used in "
        "specs: write the value out [Y005]"]


@pytest.mark.parametrize("depth", [1_000, 100_000])  # 100,000: libyaml's own composer overflows the C stack
def test_deep_nesting_is_refused(folder, depth):
    path = _spec_with(folder, D_MODEL, "  d_model: " + "[" * depth + "]" * depth + "\n")
    # the document is level 1, arch level 2, the 99th '[' (column 12 + 98) opens level 101
    assert bounded(_lint, folder) == [f"{path}:{D_LINE}:110: arch.d_model.0.0.0.0...: nested more than 100 levels "
                                      "deep: a spec nests about 7 [Y006]"]


@pytest.mark.parametrize("number", ["9" * 5000, "-9" + "0" * 4999, "0x" + "f" * 5000, "9007199254740992"])
def test_huge_integers_are_out_of_range_not_a_crash(folder, number):
    path = _spec_with(folder, D_MODEL, f"  d_model: {number}\n")
    shown = number[:24] + ("..." if len(number) > 24 else "")
    assert bounded(_lint, folder) == [f"{path}:{D_LINE}:12: arch.d_model: integer {shown} is out of range: a spec's "
                                      "numbers are at most 9,007,199,254,740,991 [Y007]"]


def test_the_largest_exact_integer_is_read(folder):
    _spec_with(folder, D_MODEL, "  d_model: 9007199254740991\n")  # 2**53 - 1: read, then F004 against the config
    assert [p.code for p in lint_paths([folder])] == ["F004"]


@pytest.mark.parametrize(("config", "message", "code"), [
    ("/dev/zero", "'/dev/zero' is not configs/<file>.json: a vendored config lives in the spec folder's configs/",
     "F007"),
    ("../../../../etc/passwd", "'../../../../etc/passwd' is not configs/<file>.json: a vendored config lives in the "
     "spec folder's configs/", "F007"),
    ("configs/../../x.json", "'configs/../../x.json' is not configs/<file>.json: a vendored config lives in the spec "
     "folder's configs/", "F007"),
])
def test_source_config_is_confined_to_configs(folder, config, message, code):
    path = _spec_with(folder, CONFIG, f"  config: {config}\n")
    assert bounded(_lint, folder) == [f"{path}:{CONFIG_LINE}:11: source.config: {message} [{code}]"]


def _config_file(folder, make):
    target = folder / "configs" / "evil.json"
    make(target)
    return _spec_with(folder, CONFIG, "  config: configs/evil.json\n"), target


@pytest.mark.parametrize(("make", "why"), [
    (os.mkfifo, "not a regular file"),  # a FIFO blocks a plain open() forever
    (lambda p: p.symlink_to("/etc/passwd"), "it is a symlink; vendor the file itself"),
    (lambda p: p.symlink_to("/dev/zero"), "it is a symlink; vendor the file itself"),
    (lambda p: p.write_text(" " * (512 * 1024 + 1)), "larger than 524,288 bytes"),
])
def test_a_vendored_config_is_a_bounded_regular_file(folder, make, why):
    path, target = _config_file(folder, make)
    assert bounded(_lint, folder) == [
        f"{path}:{CONFIG_LINE}:11: source.config: cannot read vendored config {target}: {why} [F003]"]


def test_a_symlinked_configs_folder_is_refused(folder, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.move(folder / "configs", elsewhere / "configs")
    (folder / "configs").symlink_to(elsewhere / "configs")
    path = folder / f"{BASE}.yaml"
    assert bounded(_lint, folder) == [f"{path}:{CONFIG_LINE}:11: source.config: {folder / 'configs'} is not a "
                                      "folder of the spec folder (a symlink or missing) [F007]"]


@pytest.mark.parametrize(("make", "why"), [
    (os.mkfifo, "not a regular file"),
    (lambda p: p.write_bytes(b"# " + b"x" * (1024 * 1024)), "larger than 1,048,576 bytes"),
])
def test_a_spec_file_is_a_bounded_regular_file(tmp_path, make, why):
    make(tmp_path / "evil.yaml")
    assert bounded(_lint, tmp_path) == [f"{tmp_path / 'evil.yaml'}:1:1: (file): cannot read file: {why} [Y001]"]


def test_lint_fix_leaves_hostile_files_alone(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")  # a plain read would block forever
    (tmp_path / "laughs.yaml").write_text(_laughs())
    proc = subprocess.run([sys.executable, "-m", "gallery", "lint", "--fix", str(tmp_path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=SECONDS)
    assert proc.returncode == 1 and proc.stdout.splitlines() == [
        f"{tmp_path / 'fifo.yaml'}:1:1: (file): cannot read file: not a regular file [Y001]",
        f"{tmp_path / 'laughs.yaml'}:1:5: a0: anchors and aliases (&a0, *a0) are not used in specs: write the value "
        "out [Y005]"]
    assert (tmp_path / "laughs.yaml").read_text() == _laughs()


def _problems_of(text: str) -> list[str]:
    return [str(p) for p in load_text(text, "x.yaml").problems]


def test_a_list_as_a_key_is_a_problem_not_a_crash():
    # a complex key ("? [a, b]") cannot be hashed into a mapping: before, a TypeError took the loader down
    assert bounded(_problems_of, "arch:\n  ? [d_model]: 576\n") == [
        "x.yaml:2:5: arch.?: a key must be a name, not a list or mapping [S003]"]


@pytest.mark.parametrize(("layers", "message"), [
    ("full*10000000", "the layer pattern expands to more than 1,024 layers"),
    ("(full*1000)*1000000", "the layer pattern expands to more than 1,024 layers"),
    ("full*" + "9" * 5000, "the layer pattern expands to more than 1,024 layers"),
    ("full" + " " * 200_000 + "x", "cannot read layer pattern item 'full                                 ...': "
     "use 'name', 'name*N' or '(a, b)*N'"),  # the old pattern backtracked quadratically on the spaces
])
def test_compact_layer_patterns_are_bounded(layers, message):
    text = (SPEC_DIR / f"{BASE}.yaml").read_text()
    start = text.index("  layers: [")
    end = text.index("]", start) + 1
    problems = bounded(_problems_of, text[:start] + f"  layers: \"{layers}\"" + text[end:])
    line = text[:start].count("\n") + 1
    assert problems == [f"x.yaml:{line}:11: arch.layers: {message} [S004]"]


# --- configs: the reader, the CLI -----------------------------------------------------------------

LLAMA = json.loads((SPEC_DIR / "configs" / "llama-2-7b-hf.json").read_text())


@pytest.mark.parametrize(("change", "message"), [
    ({"num_key_value_heads": 5}, "arch.blocks.full.mixer.n_kv_heads: n_heads (32) must be a multiple of n_kv_heads "
     "(5) (from num_key_value_heads 5)"),
    ({"hidden_size": 0}, "hidden_size is 0: expected a positive integer"),
    ({"intermediate_size": -11008}, "intermediate_size is -11008: expected a positive integer"),
    ({"hidden_size": [4096]}, "hidden_size is [4096], a list: expected a positive integer"),
    ({"num_attention_heads": 0}, "num_attention_heads is 0: expected a positive integer"),
    ({"num_hidden_layers": "32"}, 'num_hidden_layers is "32", a string: expected a positive integer up to 1,024'),
    ({"num_hidden_layers": 32.0}, "num_hidden_layers is 32.0, a float: expected a positive integer up to 1,024"),
    ({"num_hidden_layers": 10_000_000}, "num_hidden_layers is 10000000: expected a positive integer up to 1,024"),
    ({"rope_theta": "abc"}, 'rope_theta is "abc", a string: expected a number above 0'),
    ({"head_dim": "4096"}, 'head_dim is "4096", a string: expected a positive integer or null'),
    ({"num_attention_heads": "32"}, 'num_attention_heads is "32", a string: expected a positive integer'),
    ({"num_key_value_heads": 0}, "num_key_value_heads is 0: expected a positive integer or null"),
    ({"tie_word_embeddings": 1}, "tie_word_embeddings is 1, an integer: expected a boolean"),
    ({"rms_norm_eps": 1}, "rms_norm_eps is 1, an integer: expected a float above 0"),
    ({"rms_norm_eps": float("nan")}, "rms_norm_eps is NaN: expected a float above 0"),
    ({"vocab_size": 10**30}, "vocab_size is 1000000000000000000000000000000: expected a positive integer"),
    ({"rope_parameters": {"rope_type": "linear", "factor": "x"}}, 'rope_parameters.factor is "x", a string: expected a '
     "number above 0 or null"),
    ({"model_type": ["llama"]}, 'model_type ["llama"] is not supported yet; supported: '
     + ", ".join(sorted(FAMILIES))),
])
def test_cli_stats_and_new_exit_2_with_one_line(tmp_path, capsys, change, message):
    """The command's own code (``gallery.cli.main``) in this process; the next test runs the interpreter."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA | change))
    for args in (["stats", str(path)], ["new", str(path), "--hf-repo", "org/evil", "-o", str(tmp_path / "evil.yaml")]):
        code = main(args)
        assert (code, *capsys.readouterr()) == (2, "", f"error: {path}: {message}\n")
    assert not (tmp_path / "evil.yaml").exists()


@pytest.mark.parametrize("command", ["stats", "new"])
def test_python_m_gallery_exits_2_with_one_line_on_a_bad_config(tmp_path, command):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA | {"hidden_size": 0}))
    args = [command, str(path)] + (["--hf-repo", "org/evil", "-o", str(tmp_path / "evil.yaml")] if command == "new" else [])
    proc = subprocess.run([sys.executable, "-m", "gallery", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=SECONDS)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", f"error: {path}: hidden_size is 0: expected a "
                                                                   "positive integer\n")
    assert not (tmp_path / "evil.yaml").exists()


@pytest.mark.parametrize(("make", "message"), [
    (os.mkfifo, "cannot read {path}: not a regular file"),
    (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "{path}: the JSON nests too deeply: a config.json nests "
     "at most 32 levels"),
    (lambda p: p.write_text('{"a": ' * 40 + "1" + "}" * 40), "{path}: the JSON nests too deeply: a config.json nests "
     "at most 32 levels"),
    (lambda p: p.write_text('{"vocab_size": ' + "9" * 5000 + "}"), "{path}: not valid JSON: Exceeds the limit (4300 "
     "digits) for integer string conversion: value has 5000 digits"),
    (lambda p: p.write_bytes(b" " * (512 * 1024 + 1)), "cannot read {path}: larger than 524,288 bytes"),
])
def test_cli_reads_a_config_only_as_a_bounded_json_file(tmp_path, make, message):
    path = tmp_path / "config.json"
    make(path)
    proc = subprocess.run([sys.executable, "-m", "gallery", "stats", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=SECONDS)
    assert (proc.returncode, proc.stderr) == (2, f"error: {message.format(path=path)}\n")


def test_cli_help_documents_the_exit_codes():
    proc = subprocess.run([sys.executable, "-m", "gallery", "--help"], capture_output=True, text=True, cwd=ROOT)
    text = " ".join(proc.stdout.split())
    assert "exit codes: 0 success; 1 lint found problems" in text and "2 bad input" in text


@pytest.mark.parametrize(("key", "value", "message"), [
    ("layer_types", ["full_attention"] * 2000, "layer_types has 2,000 entries: a model here has at most 1,024 layers"),
    ("layer_types", [1, 2], "layer_types[0]: 1 at layer 0 is an integer: expected a list of strings or null"),
])
def test_per_layer_lists_respect_the_cap(key, value, message):
    config = json.loads((SPEC_DIR / "configs" / "qwen3-0.6b.json").read_text()) | {key: value}
    assert bounded(_refusal, derive_arch, config) == [message]


def test_hybrid_override_pattern_respects_the_cap_on_the_try_page():
    config = json.loads((SPEC_DIR / "configs" / "nvidia-nemotron-3-nano-30b-a3b.json").read_text())
    config.pop("layers_block_type", None)
    assert bounded(_refusal, spec_from_config, config | {"hybrid_override_pattern": "M-" * 1000}) == [
        "hybrid_override_pattern has 2,000 entries: a model here has at most 1,024 layers"]


# --- null and zero KV heads, as transformers reads them -------------------------------------------


def test_null_kv_heads_is_mha_where_transformers_says_so():
    config = LLAMA | {"num_key_value_heads": None}
    arch = derive_arch(config)
    assert arch.blocks["full"].mixer.n_kv_heads == 32 and arch.blocks["full"].mixer.kind == "mha"
    from gallery.counts import total_params

    assert total_params(arch) == reference_param_count(config)  # LlamaConfig: None → num_attention_heads


def test_null_kv_heads_is_refused_where_transformers_refuses_it():
    from huggingface_hub.dataclasses import StrictDataclassFieldValidationError
    from transformers import GemmaConfig

    config = json.loads((SPEC_DIR / "configs" / "gemma-2b.json").read_text()) | {"num_key_value_heads": None}
    with pytest.raises(StrictDataclassFieldValidationError):
        GemmaConfig.from_dict(config)
    with pytest.raises(DerivationError) as err:
        derive_arch(config)
    assert err.value.lines == [f"num_key_value_heads is null: expected a positive integer ({TRANSFORMERS_NULL} gemma "
                               "refuses null)"]


def test_zero_kv_heads_is_refused_as_transformers_cannot_build_it():
    with pytest.raises(ZeroDivisionError):
        reference_param_count(LLAMA | {"num_key_value_heads": 0})


# --- the type table against transformers' own annotations ----------------------------------------

PROBES = [None, True, 0, 7, 2.5, "7", [7], ["x"], {"a": 1}]


def _annotations():
    """(model_type, key, annotation) for every key of EXPECT that a family's transformers config class annotates."""
    import transformers

    out = []
    for model_type, family in sorted(FAMILIES.items()):
        try:
            cls = transformers.CONFIG_MAPPING[family.reads_as or model_type]
        except KeyError:
            continue  # no config class in this transformers (remote code)
        hints = {}
        for klass in reversed(cls.__mro__):
            hints.update(getattr(klass, "__annotations__", {}))
        out += [(model_type, key, hints[key]) for key in sorted(EXPECT) if key in hints and key in family.defaults]
    return out


def test_every_key_accepts_exactly_the_json_types_its_config_class_does():
    from huggingface_hub.dataclasses import type_validator

    checked, wrong = 0, []
    for model_type, key, annotation in _annotations():
        for probe in PROBES:
            try:
                type_validator(key, probe, annotation)
                theirs = True
            except (TypeError, ValueError):
                theirs = False
            problem = EXPECT[key].problem(key, probe, model_type)
            ours = problem is None or not _type_refusal(problem)
            if ours != theirs:
                wrong.append(f"{model_type}.{key} = {probe!r}: transformers {'accepts' if theirs else 'refuses'}")
            checked += 1
    assert checked > 500 and wrong == []


def _type_refusal(problem: str) -> bool:
    """A refusal for the value's type (not its range: transformers' classes check types only)."""
    return ", a" in problem.split(": expected")[0] or "is null" in problem or " at layer " in problem


# --- the Try page ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_json_on_the_try_page_is_a_message(depth):
    text = '{"a": ' + "[" * depth + "]" * depth + "}"
    assert bounded(_refusal, parse_config, text) == ["the JSON nests too deeply: a config.json nests at most 32 levels"]


def test_user_text_in_messages_is_quoted_and_shown_literally():
    from views.common import literal

    with pytest.raises(TrialError) as err:
        spec_from_config({"model_type": "![t](http://127.0.0.1:9/x.png)"})
    [line] = err.value.lines
    assert line.startswith('model_type "![t](http://127.0.0.1:9/x.png)" is not supported yet')
    # Markdown escapes, and ':' as a character reference (Streamlit makes :material/…: an icon despite a backslash)
    assert literal(line).startswith(r'model\_type "!\[t\](http&#58;//127.0.0.1&#58;9/x.png)" is not supported yet')


def test_each_config_key_is_given_one_rule():
    """A key written twice in EXPECT keeps only its last rule, silently (merges of the family tables did it): each key
    once, whether a literal key or an item of a ``dict.fromkeys`` list. Read from the source, as the dict forgets."""
    import ast
    import inspect

    from gallery.derive import config

    tree = ast.parse(inspect.getsource(config))
    table = next(node.value for node in tree.body if isinstance(node, ast.AnnAssign) and node.target.id == "EXPECT")
    keys = []
    for key, value in zip(table.keys, table.values):
        if key is not None:  # "key": rule
            keys.append(ast.literal_eval(key))
        elif isinstance(value.args[0], ast.List):  # **dict.fromkeys([...], rule)
            keys += [ast.literal_eval(item) for item in value.args[0].elts]
        else:  # **dict.fromkeys(<a comprehension>, rule): its keys, as the module computed them
            keys += list(eval(compile(ast.Expression(value.args[0]), "EXPECT", "eval"), vars(config)))
    assert sorted({k for k in keys if keys.count(k) > 1}) == []
    assert set(keys) == set(EXPECT)
