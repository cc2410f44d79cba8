"""The command line: ``python -m gallery COMMAND``. Every command has help with an example.

Exit codes: 0 success, 1 lint problems found, 2 bad input (an unreadable file, a config or spec that
cannot describe a model, a bad argument): one line on standard error, never a traceback.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from pathlib import Path

from . import codes as codes_mod
from .counts import active_bounds, active_params, breakdown, mtp_params, total_params, unrouted
from .derive import DerivationError
from .memory import kv_bytes_per_token, state_bytes
from .spec import SLUG_RE

SPEC_DIR = Path(__file__).resolve().parent.parent / "arch_specs"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "spec.schema.json"
README_PATH = Path(__file__).resolve().parent.parent / "README.md"


EXIT_CODES = ("exit codes: 0 success; 1 lint found problems (schema --check: the file is out of date); "
              "2 bad input (an unreadable file, a config or spec that cannot describe a model, a bad argument), "
              "said in one line on standard error, never a traceback")


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


def cmd_new(args: argparse.Namespace) -> int:
    from .draft import draft, slug_for, write
    from .loader import load_spec

    revision = args.revision
    if args.config:
        config = _read_json(Path(args.config))
        hf_repo = args.hf_repo or config.get("_name_or_path") or ""
        hf_repo = hf_repo if isinstance(hf_repo, str) else ""
    elif args.hf_repo:
        hub = _open_hub(args.hf_repo, args.revision)
        config, revision, hf_repo = hub.config, hub.sha, hub.ref.repo
    else:
        raise UsageError("give a config.json path, or --hf-repo ORG/NAME to fetch it from the Hub")
    if hf_repo.count("/") != 1:
        raise UsageError("give the Hub repo id with --hf-repo ORG/NAME (the config does not name it)")
    slug = slug_for(hf_repo) if args.output is None else Path(args.output).stem
    if not re.fullmatch(SLUG_RE, slug) and args.output is None:
        raise UsageError(f"--hf-repo {hf_repo}: its name gives no slug ('{slug}': at least two lower-case letters, "
                         "digits, '.' or '-'); name the spec with -o SLUG.yaml")
    if not re.fullmatch(SLUG_RE, slug):  # the file name is the spec's slug
        raise UsageError(f"-o {args.output}: the file name must be the slug, lower-case letters, digits, '.' and '-' "
                         f"(e.g. {Path(args.output).with_name(slug_for(slug) + '.yaml')})")
    out = Path(args.output) if args.output else SPEC_DIR / f"{slug}.yaml"
    keep = None
    if out.exists():
        keep = load_spec(out).spec
        if keep is None:
            raise UsageError(f"{out} exists but does not load; fix it first (python -m gallery lint {out})")
    try:
        spec = draft(config, hf_repo=hf_repo, revision=revision or (keep and keep.source.revision),
                     slug=slug, keep=keep)
    except DerivationError as exc:
        raise UsageError(f"{args.config or args.hf_repo}: {exc}") from None
    spec_path, config_path = write(spec, config, out)
    print(f"wrote {spec_path} and {config_path}")
    print("next: fill in name, organisation, release_date, licence and notes, then run "
          f"python -m gallery lint {spec_path}")
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    from .lint import lint_paths

    paths = args.paths or [SPEC_DIR]
    if args.fix:
        _fix(paths)
    problems = lint_paths(paths)
    for p in problems:
        print(p)
        if args.github:
            print(f"::error file={p.path},line={p.line},col={p.col},title={p.code}::{p.field}: {p.message}")
    if problems:
        print(f"{len(problems)} problem(s); see README 'Lint codes' for what each code means", file=sys.stderr)
    return 1 if problems else 0


def _fix(paths: list) -> None:
    """Rewrite each spec file in canonical form (comments kept); files that cannot be parsed are left."""
    from . import yamlio
    from .fix import fix_text
    from .loader import MAX_SPEC_BYTES, FileProblem, read_bounded, spec_files

    for path in (f for p in map(Path, paths) for f in (spec_files(p) if p.is_dir() else [p])):
        try:  # only what the loader reads (a bounded regular file, no aliases, no deep nesting) is rewritten
            text = read_bounded(path, MAX_SPEC_BYTES).decode("utf-8")
            yamlio.load(text)
            fixed = fix_text(text)
        except Exception:  # noqa: BLE001 - the lint that follows reports why
            continue
        if fixed != text:
            path.write_text(fixed, encoding="utf-8")
            print(f"fixed {path}", file=sys.stderr)


def _spec_path(spec: str, suffixes: tuple[str, ...], what: str) -> Path:
    """A bundled slug's spec file, or the path given; a usage error naming both forms when neither exists."""
    path = Path(spec) if spec.endswith(suffixes) else SPEC_DIR / f"{spec}.yaml"
    if not path.exists():
        raise UsageError(f"no spec '{spec}': give a slug from arch_specs/ or a path to {what}")
    return path


def _spec_of(spec: str):
    """The Spec of a bundled slug or a spec .yaml path; a usage error when it is missing or does not load."""
    from .loader import load_spec

    path = _spec_path(spec, (".yaml",), "a .yaml file")
    loaded = load_spec(path)
    if loaded.spec is None:
        raise UsageError(f"{loaded.problems[0]} (run python -m gallery lint {path})")
    return loaded.spec


def _open_hub(text: str, revision: str | None = None):
    """The Hub repo ``text`` names (``ORG/NAME[@REV]`` or its URL): its config.json at a commit."""
    from .hub import HubError, open_repo, parse_ref

    try:
        hub = open_repo(parse_ref(text, revision))
    except HubError as exc:
        raise UsageError(str(exc)) from None
    print(f"{hub.ref}: config.json at commit {hub.sha} ({hub.url})", file=sys.stderr)
    return hub


def _hub_spec(text: str):
    """The spec of a Hub repo's config.json, derived exactly as the Try page does."""
    from .trial import TrialError, spec_from_config

    hub = _open_hub(text)
    try:
        return spec_from_config(hub.config, hf_repo=hub.ref.repo, revision=hub.sha)
    except TrialError as exc:
        raise UsageError(f"{hub.ref}: {exc}") from None


def cmd_export(args: argparse.Namespace) -> int:
    from .diagram import to_dot

    if args.poster:
        return _write_poster(args)
    if args.family or args.sort or args.columns:
        raise UsageError("--family, --sort and --columns make a poster: add --poster")
    if len(args.spec) + (args.hf_repo is not None) != 1:
        raise UsageError("give a bundled slug or spec path, or --hf-repo ORG/NAME (one of the two)")
    spec = _hub_spec(args.hf_repo) if args.hf_repo else _spec_of(args.spec[0])
    return _write_figure(to_dot(spec, args.theme), args, spec.slug)


def _write_poster(args: argparse.Namespace) -> int:
    """The poster of the bundled models the slugs and families select, in the order asked for."""
    from .loader import load_folder
    from .poster import PosterError, ordered, poster, print_scale, select

    if args.hf_repo:
        raise UsageError("--poster lays out bundled models: give their slugs or --family, not --hf-repo")
    specs = [item.spec for item in load_folder(SPEC_DIR) if item.spec is not None]
    try:
        chosen = poster(ordered(select(specs, args.family, args.spec), args.sort or "date"), args.theme, args.columns)
    except PosterError as exc:
        raise UsageError(str(exc)) from None
    _write_figure(chosen.dot, args, "poster", placed=True)
    (w, h), cm = chosen.size, 2.54 / 72
    print(f"{len(chosen.slugs)} models in {chosen.columns} columns; at 100 % (text as in a single diagram) the sheet "
          f"is {w * cm:.0f} × {h * cm:.0f} cm; fitted to A0 it prints at {print_scale(chosen.size, 'A0'):.0%}, "
          f"to A1 at {print_scale(chosen.size, 'A1'):.0%}" + ("" if print_scale(chosen.size, "A0") >= 1 else
          " (below 100 %: text smaller than a single diagram's; narrow the selection with --family)"), file=sys.stderr)
    return 0


def _write_figure(dot: str, args: argparse.Namespace, stem: str, placed: bool = False) -> int:
    """Render ``dot`` (``placed``: with the positions it carries) to ``args.output`` (default
    ``<stem>.<format>``) as ``--format``, else as the output's suffix says; say where."""
    from .render import FORMATS, RenderError, render

    suffix = Path(args.output).suffix.lstrip(".").lower() if args.output else ""
    fmt = args.format or suffix or "svg"
    if fmt not in FORMATS or args.format and suffix and suffix != fmt:
        raise UsageError(f"-o {args.output}: the file type must be one of {', '.join(FORMATS)}"
                         + (f" and match --format {args.format}" if args.format else ""))
    try:
        data = render(dot, fmt, args.scale, placed)
    except RenderError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.output or f"{stem}.{fmt}")
    out.write_bytes(data)
    print(f"wrote {out} ({len(data):,} bytes)", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .changes import changes
    from .comparefig import MAX_MODELS, compare_dot

    if not 2 <= len(args.specs) <= MAX_MODELS:
        raise UsageError(f"compare takes 2 to {MAX_MODELS} models, got {len(args.specs)}")
    if args.json and args.output:
        raise UsageError("give --json (the changes as data) or -o FILE (the figure), not both")
    first, *others = map(_spec_of, args.specs)
    if args.output:
        return _write_figure(compare_dot([first, *others], args.theme), args, "compare")
    for other in others:
        found = changes(first, other)
        if args.json:
            for c in found:
                print(json.dumps({"from": first.slug, "to": other.slug, **c.row()}, ensure_ascii=False))
            continue
        print(f"{first.name} → {other.name}: " + (f"{len(found)} change(s)" if found else "no changes"))
        for i, c in enumerate(found):
            if i == 0 or c.stage != found[i - 1].stage:
                print(f"  {c.stage}")
            print(f"    {c.phrase}")
    return 0


def cmd_tree(args: argparse.Namespace) -> int:
    from .lineage import tree
    from .loader import load_folder

    specs = [item.spec for item in load_folder(args.specs) if item.spec is not None]
    if not specs:
        raise UsageError(f"no loadable specs in {args.specs} (run python -m gallery lint {args.specs})")
    return _write_figure(tree(specs, args.theme).source, args, "family-tree")


def _active_text(row: dict) -> str:
    if row["active_params"] is None:
        return row["unrouted"]
    low, high = row["active_bounds"]  # a range when the router also scores zero-compute experts (LongCat-Flash)
    return f"{high:,} active" if low == high else f"{low:,} to {high:,} active, as routing goes"


def cmd_stats(args: argparse.Namespace) -> int:
    if not args.paths and not args.hf_repo:
        raise UsageError("give spec or config.json paths, or --hf-repo ORG/NAME[@REV]")
    hub = ((spec.slug, spec.arch) for spec in map(_hub_spec, args.hf_repo))
    for slug, arch in itertools.chain(map(_arch_of, map(Path, args.paths)), hub):
        row = {
            "slug": slug,
            "total_params": total_params(arch),
            "embedding_params": breakdown(arch)["embeddings"],
            "active_params": active_params(arch),  # null when undefined: unrouted says why
            "unrouted": unrouted(arch),
            "active_bounds": active_bounds(arch),  # (fewest, most): equal unless zero-compute experts are scored
            "kv_cache_bytes_per_token": kv_bytes_per_token(arch),
            "state_bytes_per_sequence": state_bytes(arch),  # linear/SSM/conv layers: fixed, any context
            "breakdown": breakdown(arch),
            "mtp_params": mtp_params(arch),  # stored in the checkpoint, not built by transformers
        }
        print(json.dumps(row) if args.json else
              f"{slug}: {row['total_params']:,} params ({_active_text(row)}), "
              f"KV cache {row['kv_cache_bytes_per_token']:,} B/token"
              + (f" + fixed state {row['state_bytes_per_sequence']:,} B/sequence"
                 if row["state_bytes_per_sequence"] else "")
              + (f"; checkpoint adds {row['mtp_params']:,} MTP params" if row["mtp_params"] else ""))
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from .trace import trace

    path = _spec_path(args.spec, (".yaml", ".json"), "a .yaml or config.json")
    slug, arch = _arch_of(path)
    try:
        steps = trace(arch, args.layer, args.seq)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        for step in steps:
            print(json.dumps(step.row(), ensure_ascii=False))
        return 0
    print(f"{slug}, layer {args.layer} ({arch.layers[args.layer]}), {args.seq} tokens")
    for step in steps:
        shapes = f"{step.in_shape} → {step.out_shape}"
        print(f"{step.op:<28} {shapes:<34} {step.n_params:>14,} params {step.flops:>18,} FLOPs  {step.formula}")
    print(f"total: {sum(s.n_params for s in steps):,} params, {sum(s.flops for s in steps):,} FLOPs")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .spec import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.check:
        if not SCHEMA_PATH.exists() or SCHEMA_PATH.read_text() != text:
            print(f"{SCHEMA_PATH} is out of date: run python -m gallery schema", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.write_text(text)
    print(f"wrote {SCHEMA_PATH}")
    return 0


def cmd_types(args: argparse.Namespace) -> int:
    from .derive import modeltypes

    text = README_PATH.read_text(encoding="utf-8")
    new = modeltypes.updated(text, modeltypes.load())
    if args.check:
        if new != text:
            print(f"{README_PATH}: 'Supported model types' is out of date: run python -m gallery types",
                  file=sys.stderr)
            return 1
        return 0
    README_PATH.write_text(new, encoding="utf-8")
    print(f"wrote the model types section of {README_PATH}")
    return 0


def cmd_codes(args: argparse.Namespace) -> int:
    print("| code | problem | what to do | bad | good |\n|---|---|---|---|---|")
    for c in codes_mod.CODES.values():
        cell = lambda s: "`" + s.replace("\n", "` `").replace("|", "\\|") + "`"  # noqa: E731
        print(f"| {c.code} | {c.title} | {c.fix} | {cell(c.bad)} | {cell(c.good)} |")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .catalog import models_table
    from .loader import load_folder

    print(models_table([loaded.spec for loaded in load_folder(SPEC_DIR) if loaded.spec is not None]))
    return 0


def _read_json(path: Path) -> dict:
    """A config.json file, read like the Try page reads an upload: a regular file of bounded size, JSON only."""
    from .loader import FileProblem, read_bounded
    from .trial import MAX_BYTES, TrialError, parse_config

    try:
        return parse_config(read_bounded(path, MAX_BYTES))
    except FileProblem as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    except TrialError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _arch_of(path: Path):
    """(slug, Arch) of a spec YAML file or a raw config.json."""
    from .derive import derive_arch
    from .draft import slug_for
    from .loader import load_spec

    if path.suffix == ".json":
        config = _read_json(path)
        try:
            arch = derive_arch(config)
        except DerivationError as exc:
            raise UsageError(f"{path}: {exc}") from None
        # _name_or_path may be a local folder ("./" in Falcon-Mamba's config): then the file name
        return slug_for(config.get("_name_or_path") or "") or slug_for(path.stem.replace("--", "/")), arch
    loaded = load_spec(path)
    if loaded.spec is None:
        raise UsageError(f"{loaded.problems[0]} (run python -m gallery lint {path})")
    return loaded.spec.slug, loaded.spec.arch


COMMANDS = {
    "new": (cmd_new, "draft a spec from a config.json and vendor the config beside it",
            "python -m gallery new --hf-repo meta-llama/Llama-3.1-8B --revision main"),
    "lint": (cmd_lint, "check spec files (default: all of arch_specs/)",
             "python -m gallery lint arch_specs/llama-3.1-8b-instruct.yaml"),
    "stats": (cmd_stats, "parameter counts and KV cache of specs, raw config.json files or Hub repos (--hf-repo)",
              "python -m gallery stats arch_specs/*.yaml --json"),
    "schema": (cmd_schema, "write schema/spec.schema.json from the spec model (--check: fail on drift)",
               "python -m gallery schema --check"),
    "export": (cmd_export, "render a model's block diagram as SVG, PNG or PDF for slides; with --poster, the diagrams "
               "of a selection of bundled models on one sheet",
               "python -m gallery export llama-3.1-8b-instruct --theme dark -o llama.png; "
               "python -m gallery export --poster --family Google --family qwen3_moe --sort family -o poster.pdf"),
    "compare": (cmd_compare, "what changed from the first model to each other one, in words grouped by stage, "
                "as data (--json), or as one side-by-side figure (-o FILE.svg|png|pdf)",
                "python -m gallery compare llama-3.1-8b-instruct qwen3-8b gemma-3-27b-it -o compare.pdf --theme dark"),
    "tree": (cmd_tree, "draw the family tree: every model under its nearest earlier relative, as SVG, PNG or PDF",
             "python -m gallery tree --format pdf -o family-tree.pdf"),
    "trace": (cmd_trace, "every operation of one layer: shapes, parameters, FLOPs and formula",
              "python -m gallery trace llama-3.1-8b-instruct --layer 0 --seq 16 --json"),
    "types": (cmd_types, "write README's 'Supported model types' from gallery/derive/model_types.tsv "
              "(--check: fail on drift)", "python -m gallery types --check"),
    "codes": (cmd_codes, "print the lint codes as a Markdown table", "python -m gallery codes"),
    "models": (cmd_models, "print the bundled models as the README's Markdown table", "python -m gallery models"),
}


def _figure_args(p: argparse.ArgumentParser, stem: str, output: str = "") -> None:
    """The options of a command that writes a figure: format, theme, PNG scale, output file (``output``: its help)."""
    p.add_argument("--format", choices=["svg", "png", "pdf"], help="file type (default: the output's suffix, else svg)")
    p.add_argument("--theme", choices=["light", "dark", "transparent"], default="light",
                   help="slide preset (default: light)")
    p.add_argument("--scale", type=float, default=2.0, help="PNG pixel density × 96 dpi (default: 2)")
    p.add_argument("-o", "--output", metavar="FILE", help=output or f"output file (default: {stem}.<format>)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gallery", description="LLM Architecture Gallery tools.",
        epilog=EXIT_CODES)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = {}
    for name, (func, help_text, example) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=f"example: {example}. {EXIT_CODES}")
        p.set_defaults(func=func)
        parsers[name] = p
    p = parsers["new"]
    p.add_argument("config", nargs="?", help="path to a config.json (omit it to fetch from the Hub)")
    p.add_argument("--hf-repo", metavar="ORG/NAME", help="Hub repo id (or URL); without CONFIG, fetch its config.json")
    p.add_argument("--revision", metavar="REV", help="commit sha (or, when fetching, a branch or tag to pin)")
    p.add_argument("-o", "--output", metavar="PATH", help="spec path (default: arch_specs/<slug>.yaml)")
    p = parsers["lint"]
    p.add_argument("paths", nargs="*", help="spec files or folders")
    p.add_argument("--github", action="store_true", help="also print GitHub ::error annotations")
    p.add_argument("--fix", action="store_true", help="first rewrite files in canonical form (comments kept)")
    p = parsers["export"]
    p.add_argument("spec", nargs="*", help="a bundled slug (arch_specs/<slug>.yaml) or a path to a spec .yaml; with "
                   "--poster, any number of bundled slugs (default: every bundled model)")
    p.add_argument("--hf-repo", metavar="ORG/NAME[@REV]", help="instead of SPEC: a Hub repo id or URL, read from "
                   "its config.json at the commit it resolves to")
    _figure_args(p, "<slug>")
    p.add_argument("--poster", action="store_true", help="lay out the diagrams of several bundled models on one sheet: "
                   "a grid, row by row, each cell titled with the name, parameters, layers, d_model, organisation and "
                   "release date. Every diagram keeps its natural size (text 11 pt), so the sheet grows with the "
                   "selection; it targets A0 (841 × 1189 mm, either orientation): the columns are chosen to fit it "
                   "best, and the command says at what scale it prints on A0 and A1 (at 100 %% or more, text is at "
                   "least a single diagram's size: the 11 llama and mistral model types print at 122 %% on A0, the 8 Google models "
                   "at 80 %%, all 87 bundled models at 17 %%). Exit code 2, with one line, for an unknown family or slug, a "
                   "file type other than svg, png or pdf, or an empty selection")
    p.add_argument("--family", action="append", default=[], metavar="F",
                   help="with --poster: only models of this lineage group (as in the family tree: Meta, Google, "
                   "'DeepSeek template', 'Fixed-state hybrids', …), family ('Gemma 3') or model_type (qwen3_moe); "
                   "repeatable; case-insensitive")
    p.add_argument("--sort", choices=["date", "family"], help="with --poster: order by release date (default), or by "
                   "lineage group and then date")
    p.add_argument("--columns", type=int, metavar="N", help="with --poster: columns of the grid (default: what fits A0)")
    p = parsers["compare"]
    p.add_argument("specs", nargs="+", metavar="SPEC",
                   help="2 to 4 bundled slugs or spec .yaml paths; the others are compared with the first")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per change: from, to, stage, change, before, after, fields, follows")
    _figure_args(p, "compare", output="write the comparison figure instead: the models side by side, what changed "
                 "from the first outlined and said beside it (the file type: --format, else the name's suffix)")
    p = parsers["tree"]
    p.add_argument("--specs", default=str(SPEC_DIR), metavar="FOLDER", help="spec folder (default: arch_specs/)")
    _figure_args(p, "family-tree")
    p = parsers["stats"]
    p.add_argument("paths", nargs="*", help="spec YAML files or config.json files")
    p.add_argument("--hf-repo", metavar="ORG/NAME[@REV]", action="append", default=[],
                   help="also a Hub repo id or URL, read from its config.json (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p = parsers["trace"]
    p.add_argument("spec", help="a bundled slug, or a path to a spec .yaml or a config.json")
    p.add_argument("--layer", type=int, default=0, help="0-based layer index (default: 0)")
    p.add_argument("--seq", type=int, default=8, help="sequence length in tokens (default: 8)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per step: op, part, in_shape, out_shape, params, param_shapes, flops, formula")
    parsers["schema"].add_argument("--check", action="store_true", help="fail if the file is out of date")
    parsers["types"].add_argument("--check", action="store_true", help="fail if the README section is out of date")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, DerivationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped early (| head): not an error of ours
        sys.stderr.close()  # nothing more to say; keeps Python's own flush at exit quiet
        return 0
    except OSError as exc:  # an output path that cannot be written
        print(f"error: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
