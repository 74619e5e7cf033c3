"""The `guardprof` command: a thin click group; each command lives in its own module.

Exit codes, the same in every command: 0 done; 1 a runtime error or a gate that failed; 2 a
usage error (bad option or input); 3 `compare --fail-above` cannot decide; 130 interrupted
(Ctrl-C), after whatever the command keeps on interruption has been written.
"""

from __future__ import annotations

import sys
import traceback

import click

from guardprof import __version__

EXIT_INTERRUPTED = 130


class GuardprofGroup(click.Group):
    """Turns an unexpected exception into one line (the traceback with --debug), and Ctrl-C
    into exit 130 (click's own would print "Aborted!" and exit 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except (KeyboardInterrupt, click.Abort):
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            message = f"unexpected {type(exc).__name__}: {exc}"
            raise click.ClickException(
                f"{message} (run `guardprof --debug …` for the traceback)"
            ) from exc


@click.group(cls=GuardprofGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="guardprof")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Which torch.compile guards cost what, and why they exist.

    \b
    guardprof run                    the standard guard benchmark, timed and explained
    guardprof run --backend eager    the same, without inductor's long compile
    guardprof run --target my.py:make --json result.json
    guardprof guards --diff 0/2 0/3  guard trees, cost by guard kind, recompile reasons
    guardprof profile [--flame]      cProfile (for snakeviz) or py-spy with guards visible
    guardprof sweep -o sweep/        how guard cost scales, with a fitted model
    guardprof compare A.json B.json  what changed, beyond noise
    guardprof report A.json -o r.html  one self-contained page for a bug report
    """
    ctx.ensure_object(dict)["debug"] = debug


def _register() -> None:
    """Each command lives in its own module; importing them stays cheap (torch loads lazily)."""
    from guardprof.cli.compare import compare
    from guardprof.cli.guards import guards
    from guardprof.cli.profile import profile, view
    from guardprof.cli.report import report
    from guardprof.cli.run import run
    from guardprof.cli.sweep import sweep

    for command in (run, guards, profile, view, sweep, compare, report):
        main.add_command(command)


_register()

if __name__ == "__main__":
    sys.exit(main())
