"""A GuardsReport as text: entries, per-kind cost, recompile history, trees, diffs.

Reads the report only. `top` keeps lists and trees short (the N costliest children of each
manager, the N costliest sources, N failing guards per earlier entry); `depth` cuts the tree
below N manager levels. Every figure names its unit; each cost section its method.
"""

from __future__ import annotations

from collections import defaultdict

from guardprof.model.ablation import Ablations
from guardprof.model.guards_report import (
    TIMED,
    CheckCost,
    EntryDiff,
    EntryGuards,
    FrameGuards,
    GuardsReport,
    LeafNode,
    LoopCost,
    ManagerNode,
)
from guardprof.render.text_table import compress_indices, table

CODE_WIDTH = 120


def render(
    report: GuardsReport, entry: str | None = None, depth: int | None = None, top: int = 10
) -> str:
    lines = _header(report)
    for frame in report.frames:
        lines += ["", *_frame_section(frame, report, top)]
    selected = (
        [report.find_entry(entry)] if entry is not None
        else [(f, f.compile_order()[0]) for f in report.frames]
    )
    for frame, chosen in selected:
        lines += ["", *_entry_section(frame, chosen, report, depth, top)]
    if report.diff is not None:
        lines += ["", *render_diff(report.diff, top)]
    if report.ablations is not None:
        lines += ["", *render_ablations(report.ablations)]
    lines += ["", *_method(report)]
    return "\n".join(lines) + "\n"


def render_ablations(a: Ablations) -> list[str]:
    lines = [f"Ablations — {a.method}"]
    if a.note:
        return lines + [f"  {a.note}"]
    rows = []
    for r in a.results:
        if not r.valid:
            rows.append([r.group, f"{r.entries} → {r.entries_without}", "-", "-", "-", "-",
                         r.note or ""])
            continue
        rows.append([r.group, f"{r.entries} → {r.entries_without}",
                     f"{r.saved_us:.2f} [{r.saved_low:.2f}, {r.saved_high:.2f}]",
                     f"{r.attributed_us:.2f}", "n/a" if r.ratio is None else f"{r.ratio:.2f}",
                     r.verdict if r.verdict != "disagree" else "DISAGREE",
                     ", ".join(r.kinds)])
    lines += table(rows, ["group", "entries", "saved µs/call (hot loop)", "attributed µs/call",
                          "ratio", "verdict", "kinds"], "llrrrll")
    lines.append(f"  {a.rounds} rounds × {a.number} iterations each; agree: within ±15%")
    return lines


def result_lines(report: GuardsReport) -> str:
    """`guards --quiet`: one line per compiled frame, the figures the report leads with."""
    lines = []
    for frame in report.frames:
        guards = sum(e.code_parts for e in frame.entries)
        line = f"{frame.name}: {len(frame.entries)} cache entries, {guards} guards"
        if frame.loop_cost is not None:
            line += (f", guard check {frame.loop_cost.whole_isolated_us_per_call:.2f} µs/call "
                     "(isolated)")
        lines.append(line)
    return "\n".join(lines) + "\n"


# --- header and frames ------------------------------------------------------------------------


def _header(report: GuardsReport) -> list[str]:
    env, w = report.environment, report.workload
    if w.kind == "standard":
        what = f"standard dynamo_guard_eval: {w.num_args} tensor args, sizes " \
               f"{','.join(map(str, w.sizes or []))}"
    else:
        what = f"target {w.target} ({w.name})"
    compiled = ("compiled by the target" if w.compiled_as_given
                else f"backend {w.backend}, dynamic={w.dynamic}")
    entries = sum(len(f.entries) for f in report.frames)
    torch_parts = sum(e.torch_code_parts for _, e in report.entries())
    check = "matches" if torch_parts == report.code_parts else f"DIFFERS: {torch_parts}"
    frames_ok = report.dynamo_counters.get("frames", {}).get("ok")
    counted = "" if frames_ok is None else (
        f"; dynamo's counters: {frames_ok} frames compiled "
        f"({'matches' if frames_ok == entries else 'DIFFERS'})")
    return [
        f"guardprof guards · torch {env.torch_version} · Python {env.python_version} · "
        f"{env.device} ({env.device_name}) · {env.cpu_count} CPUs",
        f"workload: {what}; {w.calls_per_iteration} calls/iteration; {compiled}",
        f"{len(report.frames)} compiled frame(s), {entries} cache entries, "
        f"{report.code_parts} guards (code parts as TORCH_LOGS=guards prints them; torch's own "
        f"guard tree strings: {check}{counted})",
    ]


def _frame_section(frame: FrameGuards, report: GuardsReport, top: int) -> list[str]:
    lines = [f"Frame {frame.name} ({frame.location}): {len(frame.entries)} cache entries, "
             "in cache order (checked first to last)"]
    if frame.entries_on is not None:
        lines.append(f"  its entries live on {frame.entries_on.name} "
                     f"({frame.entries_on.location}), a torch-internal wrapper shared by every "
                     "callable compiled through it")
    rows = []
    for e in frame.entries:
        rows.append([
            e.compile_id, str(e.code_parts), str(e.leaf_guards), str(e.managers),
            compress_indices(e.serves_calls),
            _check_us(e.pass_cost), _check_us(e.fail_cost),
        ])
    lines += table(rows, ["entry", "guards", "leaf guards", "managers", "serves calls",
                          "pass check µs", "fail check µs"], "lrrrlrr")
    lines.append("  check µs: isolated / replayed in cache order (how: Method, at the end)")
    if frame.loop_cost is not None:
        lines += ["", *_loop_section(frame.loop_cost, report)]
    lines += ["", *_history(frame, top)]
    if frame.variation is not None:
        lines += ["", f"What varies between entries: {frame.variation.summary}"]
    return lines


def _check_us(cost: CheckCost | None) -> str:
    if cost is None:
        return "-"
    replayed = "n/a" if cost.whole_replayed_us is None else f"{cost.whole_replayed_us:.2f}"
    return f"{cost.whole_isolated_us:.2f} / {replayed}"


def _loop_section(loop: LoopCost, report: GuardsReport) -> list[str]:
    whole = loop.whole_isolated_us_per_call
    lines = [f"Guard cost per call, by kind: all {loop.checks} checks of one iteration "
             f"({loop.calls} calls), µs per call"]
    rows = [[k.kind, str(k.checks), _us3(k.us_per_call), _share(k.us_per_call, whole)]
            for k in loop.kinds]
    lines += table(rows, ["kind", "checks", "µs/call", "share"], "lrrr")
    lines.append("  " + _verdict(loop.parts_us_per_call, whole, loop.whole_replayed_us_per_call,
                                 report.method.tolerance, "per call"))
    if whole - loop.parts_us_per_call > 0:
        lines.append(f"  not attributed to any guard: {whole - loop.parts_us_per_call:.3f} µs per "
                     "call (whole − parts)")
    return lines


def _history(frame: FrameGuards, top: int) -> list[str]:
    lines = ["Recompile history (compile order): why each entry exists"]
    for entry in frame.compile_order():
        reasons = entry.torch_reasons
        head = _reason_text(reasons[0]) if reasons else (
            "first compile" if not entry.failing_guards else "no reason recorded")
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        lines.append(f"  {entry.compile_id:<6} dynamo: {head}{more}")
        lines += _failing_lines(entry, top)
        if entry.reasons_note:
            lines.append(f"         ({entry.reasons_note})")
    return lines


def _failing_lines(entry: EntryGuards, top: int) -> list[str]:
    """The entry compiled just before in full; earlier ones collapsed when the same guards
    (kind, source) fail on them."""
    if not entry.failing_guards:
        return []
    *earlier, last = entry.failing_guards
    lines = [f"         all failing guards of {last.compile_id}: {_failures_text(last, top)}"]
    signature = {(f.kind, f.source) for f in last.failing}
    same = [f.compile_id for f in earlier if {(g.kind, g.source) for g in f.failing} == signature]
    for failures in earlier:
        if failures.compile_id not in same:
            lines.append(f"         all failing guards of {failures.compile_id}: "
                         f"{_failures_text(failures, top)}")
    if same:
        n = len(signature)
        lines.append(f"         the same {n} guard{'s fail' if n != 1 else ' fails'} on "
                     f"{_ids(same)} (with each entry's own expected values)")
    return lines


def _ids(ids: list[str]) -> str:
    return ", ".join(ids) if len(ids) <= 4 else f"{ids[0]}, {ids[1]}, … {ids[-1]} ({len(ids)})"


def _reason_text(reason: str) -> str:
    """Dynamo's recorded reason without the user-code comment and stack it appends."""
    first = reason.splitlines()[0]
    code, _, _ = first.partition("#")
    return _clip(code, 140)


def _failures_text(failures, top: int) -> str:
    if not failures.failing:
        return "none" + (f" ({failures.note})" if failures.note else "")
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for f in failures.failing:
        groups[(f.kind, f.reason)].append(f.source)
    parts = []
    for (kind, reason), sources in list(groups.items())[:top]:
        listed = ", ".join(sources[:3]) + (f", … +{len(sources) - 3}" if len(sources) > 3 else "")
        count = f" ×{len(sources)}" if len(sources) > 1 else ""
        parts.append(f"{kind}{count} [{listed}]: {_clip(reason, 100)}")
    if len(groups) > top:
        parts.append(f"… +{len(groups) - top} more kinds of failure")
    text = f"{len(failures.failing)} fail — " + "; ".join(parts)
    if not failures.complete and failures.note:
        text += f" (incomplete: {failures.note})"
    return text


# --- one entry --------------------------------------------------------------------------------


def _entry_section(
    frame: FrameGuards, entry: EntryGuards, report: GuardsReport, depth: int | None, top: int
) -> list[str]:
    lines = [f"Entry {entry.compile_id} of {frame.name}: {entry.code_parts} guards in "
             f"{entry.leaf_guards} leaf guards on {entry.managers} managers"]
    kinds = ", ".join(f"{k} {v}" for k, v in entry.code_parts_by_kind.items())
    lines.append(f"  guards by kind: {kinds}")
    if entry.pass_cost is not None:
        lines += ["", *_check_section(entry.pass_cost, report, "pass check")]
    else:
        lines.append("  no call of the captured iteration passed this entry: no pass check to "
                     "cost, the tree shows no per-guard cost")
    if entry.fail_cost is not None:
        lines += ["", *_check_section(entry.fail_cost, report, "fail check")]
    if entry.relational:
        lines += ["", "  Relational guards (one guard shared by several managers):"]
        for info in entry.relational:
            cost = ("not separable" if info.cost_us is None else f"{info.cost_us:.3f} µs")
            lines.append(f"    {info.kind} over {len(info.sources)} sources: {cost}")
    lines += ["", *_sources_section(entry, top)]
    lines += ["", *tree_section(entry, depth, top)]
    return lines


def _check_section(cost: CheckCost, report: GuardsReport, label: str) -> list[str]:
    outcome = "accepts" if cost.passed else f"rejects at {_clip(cost.failed_at or '?', 90)}"
    lines = [f"  Cost by guard kind, {label} on call {cost.call_index}'s inputs ({outcome}; "
             f"{cost.managers_visited} manager(s) visited)"]
    whole = cost.whole_isolated_us
    rows = [[p.kind, str(p.leaf_guards) if p.leaf_guards else "", str(p.code_parts or ""),
             _us3(p.cost_us), _share(p.cost_us, whole), p.method] for p in cost.parts]
    lines += ["  " + line for line in table(
        rows, ["kind", "leaf guards", "guards", "µs", "share", "method"], "lrrrrl")]
    lines.append("    " + _verdict(cost.parts_us, whole, cost.whole_replayed_us,
                                   report.method.tolerance, "check"))
    if whole - cost.parts_us > 0:
        lines.append(f"    not attributed to any guard: {whole - cost.parts_us:.3f} µs (whole − "
                     "parts: per-check fixed costs and cache effects that no guard shows alone)")
    if cost.unseparated:
        names = ", ".join(p.kind for p in cost.unseparated)
        lines.append(f"    counted but not costed (not separable): {names}")
    if cost.mismatch:
        lines.append(f"    note: {cost.mismatch}")
    return lines


def _sources_section(entry: EntryGuards, top: int) -> list[str]:
    managers = [m for m in entry.tree.walk() if m.manager_type != "RootGuardManager"]
    costed = sorted((m for m in managers if m.cost_us is not None), key=lambda m: -m.cost_us)
    shown = f"top {top} of {len(managers)}" if top < len(managers) else f"all {len(managers)}"
    lines = [f"  Costliest sources (own leaf guards, pass check µs; {shown})"]
    rows = [[_clip(m.source, 80), str(len(m.leaves)), _us3(m.cost_us), _us3(m.subtree_cost_us)]
            for m in costed[:top]]
    root = entry.tree
    if root.cost_us is not None:
        rows.insert(0, ["(root: global state, ambient guards)", str(len(root.leaves)),
                        _us3(root.cost_us), _us3(root.subtree_cost_us)])
    lines += ["  " + line for line in table(
        rows, ["source", "leaf guards", "own µs", "subtree µs"], "lrrr")]
    return lines


def tree_section(entry: EntryGuards, depth: int | None, top: int,
                 costed: bool = True) -> list[str]:
    """The tree as TORCH_LOGS=guards prints it; `costed` False: a tree kept without per-guard
    costs (a program's report), whose leaves then show no cost column."""
    limits = [f"the {top} costliest children of each manager" if costed
              else f"the first {top} children of each manager"]
    if depth is not None:
        limits.append(f"{depth} manager levels")
    what = ", with pass-check µs per guard (isolated)" if costed else " (guards not costed)"
    lines = [f"  Guard tree as TORCH_LOGS=guards prints it{what}; showing "
             f"{' and '.join(limits)}"]
    out: list[str] = []
    out.append(_tree_line(_subtree_label(entry.tree), "", "RootGuardManager"))
    _tree_body(entry.tree, "| ", 0, depth, top, out, costed)
    for leaf in entry.epilogue:
        out += _leaf_lines(leaf, "", costed)
    return lines + ["  " + line for line in out]


def _tree_body(node: ManagerNode, prefix: str, level: int, depth: int | None, top: int,
               out: list[str], costed: bool) -> None:
    for leaf in node.leaves:
        out += _leaf_lines(leaf, prefix, costed)
    children = node.children
    if depth is not None and level >= depth:
        if children:
            hidden = [m for c in children for m in c.walk()]
            guards = sum(len(m.leaves) for m in hidden)
            cost = sum(c.subtree_cost_us or 0.0 for c in children)
            out.append(_tree_line("", prefix, f"… {len(hidden)} managers with {guards} leaf "
                                  f"guards below (--depth)" + (f", {cost:.3f} µs" if costed
                                                                else "")))
        return
    shown = set(id(c) for c in sorted(children, key=lambda c: -(c.subtree_cost_us or 0.0))[:top])
    hidden_cost, hidden = 0.0, 0
    for child in children:
        if id(child) not in shown:
            hidden += 1
            hidden_cost += child.subtree_cost_us or 0.0
            continue
        accessor = f", accessed_by={child.accessor}" if child.accessor else ""
        text = (f"{child.manager_type}: source={child.source}{accessor}, "
                f"type={child.type_name}")
        out.append(_tree_line(_subtree_label(child), prefix, text))
        _tree_body(child, prefix + "| ", level + 1, depth, top, out, costed)
    if hidden:
        out.append(_tree_line("", prefix, f"… {hidden} more managers (--top)"
                              + (f", {hidden_cost:.3f} µs together" if costed else "")))


def _subtree_label(node: ManagerNode) -> str:
    return "" if node.subtree_cost_us is None else f"Σ{node.subtree_cost_us:.3f}"


def _leaf_lines(leaf: LeafNode, prefix: str, costed: bool = True) -> list[str]:
    if leaf.repeat:
        return [_tree_line("rel.", prefix, leaf.kind)]
    if leaf.status == TIMED:
        cost = f"{leaf.cost_us:.3f}"
    elif leaf.relational:
        cost = "rel."
    else:
        cost = leaf.status if costed else ""
    parts = leaf.code_parts or [""]
    # a kind torch names otherwise on this release: both names, torch's in brackets
    kind = leaf.kind if leaf.torch_kind is None else f"{leaf.kind} [torch: {leaf.torch_kind}]"
    lines = [_tree_line(cost, prefix, f"{kind}: {parts[0]}")]
    lines += [_tree_line("〃", prefix, f"{kind}: {part}") for part in parts[1:]]
    return lines


def _tree_line(cost: str, prefix: str, text: str) -> str:
    return f"{cost:>10}  {prefix}+- {_clip(text, CODE_WIDTH)}"


# --- diff -------------------------------------------------------------------------------------


def render_diff(diff: EntryDiff, top: int) -> list[str]:
    lines = [f"Diff {diff.a} vs {diff.b}: {diff.summary}"]
    if not diff.rows:
        return lines
    shown = diff.rows if top <= 0 else diff.rows[: max(top, 1)]
    rows = [[_clip(r.source, 60), r.kind, _clip(r.a if r.a is not None else "(absent)", 50),
             _clip(r.b if r.b is not None else "(absent)", 50)] for r in shown]
    lines += table(rows, ["source", "kind", diff.a, diff.b], "llll")
    if len(diff.rows) > len(shown):
        lines.append(f"  … {len(diff.rows) - len(shown)} more differing guards (--top, or "
                     "--json for all)")
    return lines


# --- method -----------------------------------------------------------------------------------


def _method(report: GuardsReport) -> list[str]:
    m = report.method
    walk = ("n/a" if m.walk_ns_per_manager is None
            else f"{m.walk_ns_per_manager:.1f} ns per manager, its leaf calls included")
    lines = [
        "Method",
        f"  leaf guards: {m.leaf} (baseline {m.leaf_baseline_ns:.0f} ns/call)",
        f"  relational guards: {m.relational}",
        f"  tree walk: {m.walk} ({walk})",
        f"  whole check: {m.whole} (empty-root call {m.root_baseline_ns:.0f} ns)",
        f"  {m.rounds} rounds × {m.batch} calls per sample; parts reconcile when their sum is "
        f"within ±{100 * m.tolerance:.0f}% of the isolated whole",
        "  phases: " + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s"
                                 for k, v in report.phases_s.items()),
    ]
    if report.notes:
        lines += ["", "Notes"] + [f"  - {n}" for n in report.notes]
    return lines


def _verdict(parts: float, whole: float, replayed: float | None, tolerance: float,
             what: str) -> str:
    if whole <= 0:
        return f"sum of parts {parts:.3f} µs; whole {what} not measurable"
    ratio = parts / whole
    ok = abs(ratio - 1) <= tolerance
    text = (f"sum of parts {parts:.3f} µs = {100 * ratio:.0f}% of the whole {what} "
            f"{whole:.3f} µs (isolated) → {'reconciles' if ok else 'DOES NOT reconcile'} "
            f"(±{100 * tolerance:.0f}%)")
    if replayed:
        text += (f"; replayed in cache order {replayed:.3f} µs, parts {100 * parts / replayed:.0f}%"
                 " of it (the real order runs with colder caches)")
    return text


def _us3(value: float | None) -> str:
    return "not separable" if value is None else f"{value:.3f}"


def _share(value: float | None, whole: float) -> str:
    return "" if value is None or whole <= 0 else f"{100 * value / whole:.0f}%"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
