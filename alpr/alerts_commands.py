"""The alerts process in the `alpr` CLI: `alpr alerts` runs the matcher.

`alerts_app` is a group so that commands about alerts (a report, say) can
sit beside it: `alpr alerts` alone runs the process.
"""

from __future__ import annotations

import asyncio

import typer

from core.settings import AlertSettings

alerts_app = typer.Typer(
    help="Hotlist alerts: `alpr alerts` runs the matcher and webhook deliverer.",
    invoke_without_command=True,
)


@alerts_app.callback()
def alerts(ctx: typer.Context) -> None:
    """Match every stored read against the hotlists, raise alerts, deliver webhooks
    (one active matcher at a time; another waits)."""
    if ctx.invoked_subcommand is not None:
        return
    from alerts.service import run

    raise typer.Exit(asyncio.run(run(AlertSettings())))


def register(app: typer.Typer) -> None:
    """Add `alerts` to the `alpr` app."""
    app.add_typer(alerts_app, name="alerts")
