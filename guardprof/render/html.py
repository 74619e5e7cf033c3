"""One self-contained HTML page of a report, to attach to a bug report.

Everything is inline (CSS, a little JS, SVG, PNG as base64) and a Content-Security-Policy
forbids any network fetch, so the page looks the same offline, in a mail client's preview, or
years later. A flame graph SVG is embedded as an image, so its own scripts never run here.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass

from guardprof.model.cost_fit import CostFit
from guardprof.model.decomposition import Decomposition
from guardprof.model.run_report import FrameReport, GuardReport
from guardprof.render import decomposition
from guardprof.render import in_situ as in_situ_render

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'"
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
 background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde;
 padding-bottom:4px}
.result{font:600 16px ui-monospace,Menlo,Consolas,monospace;color:#333}
.method{color:#556;font-size:12.5px;margin:2px 0 8px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #dde;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}.card span{color:#556;font-size:12px}
table{border-collapse:collapse;background:#fff;margin:6px 0;font-size:13px}
th,td{border:1px solid #dde;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f5;cursor:default}table.sortable th{cursor:pointer}
td.n{text-align:right;font-variant-numeric:tabular-nums}
details summary{cursor:pointer;color:#246}
.bar{height:10px;background:#5b7fd6;border-radius:2px}
.note{background:#fff8e1;border:1px solid #f0dc9b;padding:6px 10px;border-radius:4px;margin:6px 0}
img.plot{max-width:100%;border:1px solid #dde;background:#fff}img.flame{width:100%}
footer{color:#667;font-size:12px;margin-top:32px}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;font-size:12px;margin:4px 0}
.key i{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px}
"""

# Errors are written into the page, so a headless browser (or a person) can see them.
JS_ERRORS = """
window.guardprofErrors=[];
window.addEventListener('error',function(e){window.guardprofErrors.push(String(e.message));
 document.documentElement.setAttribute('data-errors',window.guardprofErrors.join(' | '));});
"""

JS_MAIN = """
document.querySelectorAll('table.sortable').forEach(function(table){
 table.querySelectorAll('th').forEach(function(th,col){
  th.title='sort';th.addEventListener('click',function(){
   var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
   var asc=th.getAttribute('data-asc')!=='1';th.setAttribute('data-asc',asc?'1':'0');
   rows.sort(function(a,b){var x=a.cells[col].getAttribute('data-v')||a.cells[col].textContent,
    y=b.cells[col].getAttribute('data-v')||b.cells[col].textContent,nx=parseFloat(x),ny=parseFloat(y);
    var r=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?r:-r;});
   rows.forEach(function(r){body.appendChild(r);});});});});
document.documentElement.setAttribute('data-rendered','ok');
"""


@dataclass
class SweepAttachment:
    """What `--sweep` brings: the plot, and the fitted models from sweep.json when given."""

    source: str
    png: bytes | None = None
    fits: list[CostFit] | None = None
    points: int | None = None
    elapsed_s: float | None = None


@dataclass
class FlameAttachment:
    source: str
    svg: str


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def _us(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def html_table(header: list[str], rows: list[list[str]], *, numeric: set[int] = frozenset(),
           attrs: str = "") -> str:
    """Cells are given escaped (callers escape); `numeric` columns are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: GuardReport, *, flame: FlameAttachment | None = None,
                sweep: SweepAttachment | None = None, source: str | None = None) -> str:
    w = report.workload
    title = f"guardprof report — {w.name} ({w.kind})"
    parts = [
        f"<h1>{escape(title)}</h1>",
        f'<div class="result">{escape(report.result_line)}</div>',
        _cards(report),
        _decomposition_section(report),
        _timing_section(report),
        _guard_section(report),
        _entries_section(report),
        _kinds_section(report),
        _findings_section(report),
        _environment_section(report, source),
    ]
    if flame is not None:
        parts.append(flame_section(flame))
    if sweep is not None:
        parts.append(_sweep_section(sweep))
    parts.append(
        f"<footer>Generated by guardprof {escape(report.environment.guardprof_version)} from "
        f"{escape(source or 'a report')}. Self-contained: no network access is needed or allowed."
        "</footer>"
    )
    return html_page(title, parts)


def html_page(title: str, parts: list[str]) -> str:
    """The page around `parts` (HTML, escaped by their makers): CSP, CSS, the sorting script."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style><script>{JS_ERRORS}</script>"
        f"</head><body><main>{''.join(parts)}</main><script>{JS_MAIN}</script></body></html>\n"
    )


def _cards(report: GuardReport) -> str:
    t, cost = report.timing, report.guard_cost
    share = report.guard_share_of_call()
    s = report.in_situ
    guard = (f"{s.us_per_call:.1f} µs" if s is not None and s.us_per_call is not None
             else "not measured")
    cards = [
        (f"{t.compiled_us_per_call:.1f} µs", "compiled, per call (timed)"),
        (f"{_us(t.eager_us_per_call)} µs", "eager, per call (timed)"),
        (guard, "guards, per call (in situ)" + ("" if s is None or s.low is None else
                                                f" [{s.low:.1f}, {s.high:.1f}]")),
        ("n/a" if share is None else f"{100 * share:.0f}%", "guard share of the call"),
        (str(report.entry_count), "cache entries"),
        (f"{cost.walk_depth_mean:.1f}", "entries checked per call"),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for v, k in cards
    ) + "</div>"


def _decomposition_section(report: GuardReport) -> str:
    return decomposition_html(report.decomposition)


def decomposition_html(d: Decomposition | None, heading: str = "h2",
                       title: str = "Decomposition of the compiled call") -> str:
    """A decomposition's parts and agreement rows (a run's call, or a program frame's)."""
    if d is None:
        return ""
    if not d.available:
        return (f"<{heading}>{escape(title)}</{heading}>"
                f'<div class="note">Not measured: {escape("; ".join(d.notes))}</div>')
    rows = [[escape(p.name.replace("_", " ")), "unresolved" if p.us is None else _us(p.us),
             f"[{p.low:.1f}, {p.high:.1f}]", escape(p.reason or p.method)] for p in d.parts]
    if d.unattributed_us is not None:
        rows.append(["unattributed", _us(d.unattributed_us), "",
                     "compiled − the parts: 0 by construction (a chain of differences)"])
    agree = [[escape(a.name), "unresolved" if a.in_situ_us is None else _us(a.in_situ_us, 2),
              _us(a.replayed_us, 2),
              "n/a" if a.ratio is None else f"{a.ratio:.2f}", escape(a.verdict), escape(a.method)]
             for a in d.agreement]
    return (
        f"<{heading}>{escape(title)}</{heading}>"
        f'<div class="method">{escape(d.method)}</div>'
        + html_table(["part", "µs/call", "quartiles", "how"], rows, numeric={1})
        + "<h3>Independent measures of the same parts (agree within ±15%)</h3>"
        + html_table(["part", "in situ µs", "other µs", "ratio", "verdict", "other measure"], agree,
                 numeric={1, 2, 3})
        + "".join(f'<div class="note">{escape(n)}</div>' for n in d.notes)
    )


def _timing_section(report: GuardReport) -> str:
    t = report.timing
    c = t.compiled_us_per_iteration
    rows = [["compiled", _us(c.median), _us(c.iqr), _us(t.compiled_us_per_call)]]
    if t.eager_us_per_iteration is not None:
        e = t.eager_us_per_iteration
        rows.append(["eager (uncompiled)", _us(e.median), _us(e.iqr), _us(t.eager_us_per_call)])
        rows.append(["overhead (compiled − eager)", _us(c.median - e.median), "",
                     _us(t.overhead_us_per_call)])
    return (
        "<h2>Timing</h2>"
        f'<div class="method">{escape(t.method)}; warm-up {t.warmup_s:.1f} s for '
        f"{t.warmup_iterations} iterations "
        f"(includes compilation); {t.calls_per_iteration} calls per iteration</div>"
        + html_table(["", "µs/iteration", "IQR µs", "µs/call"], rows, numeric={1, 2, 3})
        + _share_bar(report)
    )


def _share_bar(report: GuardReport) -> str:
    """The compiled call as a bar, from the hot-loop decomposition (graph, dispatch floor,
    accepted check, rejected entries); without one, the replayed guard checks and the rest of
    the call. The eager baseline is not part of the compiled call and is not in the bar."""
    total = report.timing.compiled_us_per_call
    if total <= 0:
        return ""
    d = report.decomposition
    s = report.in_situ
    if s is not None and s.us_per_call is not None and s.accepted_us is not None:
        call = total
        rejected, accepted = max(s.rejected_us or 0.0, 0.0), max(s.accepted_us, 0.0)
        floor, graph = max(s.floor_us or 0.0, 0.0), max(s.graph_us or 0.0, 0.0)
        parts = [("guards: rejected entries (in situ)", rejected, "#e06c4f"),
                 ("guards: accepted check (in situ)", accepted, "#f2a541"),
                 ("guard-free lookup", floor, "#5b7fd6"),
                 ("graph", graph, "#9aa5b8")]
        parts.append(("the rest of the call", max(call - sum(v for _, v, _ in parts), 0.0),
                      "#c9ced8"))
        total = max(call, sum(v for _, v, _ in parts))
        method = ("One compiled call, µs: the in-situ guard figure (rejected entries, accepted "
                  "check), the guard-free lookup and the graph, each timed inside the calls of "
                  "the real loop; the rest is the wrapper, the bytecode and what the timed call "
                  "holds beside them.")
    elif d is not None and d.available and all(p.us is not None for p in d.parts):
        colours = {"graph": "#9aa5b8", "dispatch_floor": "#5b7fd6",
                   "accepted_check": "#f2a541", "rejected_entries": "#e06c4f"}
        parts = [(p.name.replace("_", " "), max(p.us, 0.0), colours.get(p.name, "#888"))
                 for p in d.parts]
        total = max(d.compiled_us, sum(v for _, v, _ in parts))
        method = ("One compiled call, µs, as the hot-loop decomposition takes it apart (each "
                  "part a differential experiment; see its table).")
    else:
        cost = report.guard_cost
        guards = cost.rejected_us_per_call + cost.accepted_us_per_call
        parts = [("guards: rejected entries (replayed)", cost.rejected_us_per_call, "#e06c4f"),
                 ("guards: accepted entry (replayed)", cost.accepted_us_per_call, "#f2a541"),
                 ("the rest of the call", max(total - guards, 0.0), "#5b7fd6")]
        total = max(total, guards)
        method = ("One compiled call, µs: the replayed guard checks and the rest of the timed "
                  "call (no decomposition in this report).")
    width, x, rects, legend = 900.0, 0.0, [], []
    scale = width / total
    for label, value, colour in parts:
        w = value * scale
        rects.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="26" fill="{colour}">'
                     f"<title>{escape(label)}: {value:.1f} µs</title></rect>")
        legend.append(f'<span class="key"><i style="background:{colour}"></i>{escape(label)} '
                      f"{value:.1f} µs</span>")
        x += w
    return (
        f'<svg role="img" aria-label="compiled call breakdown" width="{width:.0f}" height="26" '
        f'viewBox="0 0 {width:.0f} 26" xmlns="http://www.w3.org/2000/svg">'
        + "".join(rects) + '</svg><div class="legend">' + "".join(legend) + "</div>"
        f'<div class="method">{escape(method)}</div>'
    )


def _guard_section(report: GuardReport) -> str:
    cost, s = report.guard_cost, report.in_situ
    in_situ = s is not None and s.us_per_call is not None

    def situ(value: float | None) -> str:
        return "" if value is None else _us(value, 2)

    rows = [
        ["entries checked (walk depth)", _us(cost.walk_depth_mean), "", "entries"],
        ["rejected entries", situ(s.rejected_us) if in_situ else "",
         _us(cost.rejected_us_per_call, 2), "µs"],
        ["accepted check", situ(s.accepted_us) if in_situ else "",
         _us(cost.accepted_us_per_call, 2), "µs"],
        ["guard evaluation", situ(s.us_per_call) if in_situ else "not measured",
         _us(cost.total_us_per_call, 2), "µs"],
    ]
    share = report.guard_share_of_call()
    if share is not None:
        rows.append(["share of the compiled call", f"{100 * share:.0f}", "", "%"])
    breakdown = in_situ_render.accepted_lines(report.accepted_breakdown)
    method = s.method if s is not None else "not run"
    return (
        "<h2>Guard evaluation per call</h2>"
        f'<div class="method">In situ — {escape(method)}. '
        f"{escape(in_situ_render.figure_line(s))}</div>"
        + html_table(["per call", "in situ", "replayed", "unit"],
                     [[escape(c) for c in r] for r in rows], numeric={1, 2})
        + f'<div class="method">Replayed (the breakdown by entry) — {escape(cost.method)}; '
        f"Python call overhead subtracted per check: {cost.python_call_overhead_us:.2f} µs</div>"
        + "".join(f'<div class="note">{escape(line.strip())}</div>' for line in breakdown)
    )


def _entries_section(report: GuardReport) -> str:
    out = ["<h2>Cache entries and why they exist</h2>"]
    if not report.frames:
        out.append('<div class="note">No cache entries were found: nothing was compiled.</div>')
    for index, frame in enumerate(report.frames):
        out.append(_frame_table(frame, first=index == 0))
    if report.unattributed_reasons:
        items = "".join(f"<li>{escape(r)}</li>" for r in report.unattributed_reasons)
        out.append("<details><summary>Guard failures after the last compile "
                   f"({len(report.unattributed_reasons)})</summary><ul>{items}</ul></details>")
    return "".join(out)


def _frame_table(frame: FrameReport, first: bool) -> str:
    rows = []
    for e in frame.entries:
        reasons = e.recompile_reasons
        if reasons:
            reason = escape(reasons[0])
            if len(reasons) > 1:
                more = "".join(f"<li>{escape(r)}</li>" for r in reasons[1:])
                reason += (f"<details><summary>{len(reasons) - 1} more</summary>"
                           f"<ul>{more}</ul></details>")
        else:
            reason = "first compile" if e.compile_id.endswith("/0") else "-"
        serves = ",".join(map(str, e.serves_calls)) or "-"
        rows.append([str(e.position), escape(e.compile_id), escape(serves), str(e.guards_total),
                     _us(e.pass_check_us, 2), _us(e.fail_check_us, 2), reason])
    table_id = ' id="entries"' if first else ""
    table = html_table(
        ["position", "entry", "serves calls", "guards", "pass µs", "fail µs", "created because"],
        rows, numeric={0, 3, 4, 5}, attrs=f'class="entries sortable"{table_id}',
    )
    uncompiled = ""
    if frame.uncompiled_calls:
        uncompiled = (f'<div class="note">Calls that ran uncompiled (no entry accepted them): '
                      f"{escape(','.join(map(str, frame.uncompiled_calls)))}</div>")
    if frame.entries_on is not None:
        uncompiled += (f'<div class="note">Its entries live on {escape(frame.entries_on.name)} '
                       f"({escape(frame.entries_on.location)}), a torch-internal wrapper shared by "
                       "every callable compiled through it.</div>")
    uncompiled += "".join(f'<div class="note">{escape(line.strip())}</div>'
                          for line in decomposition.frame_lines(frame.decomposition))
    return (
        f"<h3>{escape(frame.name)} <small>({escape(frame.location)})</small></h3>"
        '<div class="method">In cache order when the captured iteration began (position 0 '
        "is checked first); pass/fail: replayed check µs, median.</div>" + table + uncompiled
    )


def _kinds_section(report: GuardReport) -> str:
    n = report.entry_count
    if not n:
        return ""
    totals = report.guards_by_kind_total()
    biggest = max(totals.values()) if totals else 1
    rows = [
        [escape(kind), f"{count / n:.1f}", str(count),
         f'<div class="bar" style="width:{200 * count / biggest:.0f}px"></div>']
        for kind, count in totals.items()
    ]
    return (
        "<h2>Guards by kind</h2>"
        '<div class="method">Counted in each entry\'s guard tree (as TORCH_LOGS=guards prints '
        "it). What each kind costs is measured by <code>guardprof guards</code>.</div>"
        + html_table(["kind", "per entry (mean)", "all entries", ""], rows, numeric={1, 2})
    )


def _findings_section(report: GuardReport) -> str:
    out = ["<h2>What this means</h2><ul>"]
    out += [f"<li>{escape(f)}</li>" for f in report.findings]
    out.append("</ul>")
    if report.notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes)
                   + "</ul>")
    return "".join(out)


def _environment_section(report: GuardReport, source: str | None) -> str:
    env, w = report.environment, report.workload
    env_rows = [
        ["guardprof", env.guardprof_version], ["torch", env.torch_version],
        ["Python", env.python_version], ["platform", env.platform],
        ["device", f"{env.device} ({env.device_name})"],
        ["CPUs / torch threads", f"{env.cpu_count} / {env.torch_threads}"],
    ]
    what = (f"standard dynamo_guard_eval: {w.num_args} tensor args, sizes "
            f"{','.join(map(str, w.sizes or []))}" if w.kind == "standard"
            else f"target {w.target}")
    workload_rows = [
        ["workload", what], ["backend", w.backend], ["dynamic", w.dynamic],
        ["recompile limit", str(w.recompile_limit)],
        ["timing", f"number {w.number}{' (calibrated)' if w.number_calibrated else ''} × "
                   f"repeat {w.repeat}"],
        ["calls per iteration", str(w.calls_per_iteration)],
    ]
    if w.compiled_as_given:
        workload_rows.append(["compiled by", "the target (--backend/--dynamic not applied)"])
    if source:
        workload_rows.append(["report file", source])
    return (
        "<h2>Environment and workload</h2>"
        + html_table(["", "environment"], [[escape(a), escape(b)] for a, b in env_rows])
        + html_table(["", "workload"], [[escape(a), escape(b)] for a, b in workload_rows])
    )


def flame_section(flame: FlameAttachment) -> str:
    """The SVG as a static image: the same picture, and none of its scripts run.

    py-spy's SVG sizes itself from script at load time; inside a frame of another page that
    script can run before layout and draw at zero width, so the page embeds the picture as
    drawn, and the SVG file itself stays the interactive version (zoom, search).
    """
    data = base64.b64encode(flame.svg.encode("utf-8")).decode("ascii")
    return (
        "<h2>Flame graph</h2>"
        f'<div class="method">From {escape(flame.source)} (open that file in a browser to zoom and '
        "search); sampled, so it perturbs the loop it measures.</div>"
        f'<img class="plot flame" alt="flame graph" src="data:image/svg+xml;base64,{data}">'
    )


def _sweep_section(sweep: SweepAttachment) -> str:
    out = ["<h2>How guard cost scales (sweep)</h2>"]
    what = f"From {escape(sweep.source)}"
    if sweep.points is not None:
        what += f": {sweep.points} points"
        if sweep.elapsed_s is not None:
            what += f" in {sweep.elapsed_s:.0f} s"
    out.append(f'<div class="method">{what}.</div>')
    if sweep.png is not None:
        data = base64.b64encode(sweep.png).decode("ascii")
        out.append(f'<img class="plot" alt="sweep plot: guard µs/call against args and entries" '
                   f'src="data:image/png;base64,{data}">')
    for fit in sweep.fits or []:
        out.append(_fit_table(fit))
    return "".join(out)


def _fit_table(fit: CostFit) -> str:
    rows = []
    for c in fit.coefficients:
        value = "n/a" if c.value is None else f"{c.value:.4g}"
        err = "" if c.stderr is None else f"±{c.stderr:.2g}"
        rows.append([escape(c.label), value, err, escape(c.unit), escape(c.note or "")])
    quality = ""
    if fit.rms_residual_us is not None:
        r2 = fit.r_squared
        quality = (f"residuals (measured − model): RMS {fit.rms_residual_us:.3g} µs, largest "
                   f"{fit.max_abs_residual_us:.3g} µs; R² "
                   f"{'n/a' if r2 is None else f'{r2:.3f}'}")
    if fit.note:
        quality += f" — {fit.note}"
    return (
        f"<h3>Model of {escape(fit.target)}, {escape(fit.group)} ({fit.points} points)</h3>"
        + html_table(["term", "value", "std err", "unit", ""], rows, numeric={1, 2})
        + f'<div class="method">{escape(quality)}</div>'
    )
