"""The `guardprof` command: a thin click group; each command lives in its own module."""

from __future__ import annotations

import sys
import traceback

import click

from guardprof import __version__


class GuardprofGroup(click.Group):
    """Turns an unexpected exception into one line (the traceback with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
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
    from guardprof.cli_compare import compare
    from guardprof.cli_guards import guards
    from guardprof.cli_profile import profile, view
    from guardprof.cli_report import report
    from guardprof.cli_run import run
    from guardprof.cli_sweep import sweep

    for command in (run, guards, profile, view, sweep, compare, report):
        main.add_command(command)


_register()

if __name__ == "__main__":
    sys.exit(main())
