"""``wasmflow replay RUN_ID --from NODE``: replay/fork a run from a node on the local database.

The new run reuses the original's calls made before NODE (their side effects are not repeated) and runs
live from NODE in this process, printing its events like ``wasmflow run`` (app.engine.replay).
"""

from __future__ import annotations

import click

from app.cli.common import EXIT_FAILED, echo_json, fail, settings_from
from app.errors import WasmflowError


@click.command("replay")
@click.argument("run_id")
@click.option("--from", "from_node", required=True, metavar="NODE_ID", help="Node to run live from.")
@click.option(
    "--version",
    type=click.Choice(["original", "current"]),
    default="original",
    show_default=True,
    help="original: the run's own digest; current: the workflow's deployed digest.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new run's result as JSON.")
@click.pass_context
def replay_cmd(ctx: click.Context, run_id: str, from_node: str, version: str, as_json: bool) -> None:
    """Replay RUN_ID from NODE_ID as a new run linked to it; exits 3 unless the new run succeeds or waits."""
    from app.cli.ops_commands import replay_remote
    from app.cli.run_commands import _printer, _report, open_engine
    from app.engine import replay

    if replay_remote(ctx, run_id, from_node, version, as_json):  # --server URL: the server replays it
        return
    settings = settings_from(ctx)
    try:
        engine = open_engine(settings)
        started = replay.replay_run(engine, run_id, from_node=from_node, version=version)
        if not as_json:
            click.echo(
                f"run {started['run_id']} replays {run_id} from {from_node} ({version} version, "
                f"{started['digest'][:12]})",
                err=True,
            )
        engine.add_listener(_printer(as_json))
        outcome = engine.run_sync(started["run_id"])
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json({**started, "status": outcome.status, "output": outcome.output, "error": outcome.error})
        if outcome.status in ("failed", "needs_attention", "cancelled"):
            raise SystemExit(EXIT_FAILED)
        return
    _report(outcome, as_json)


def register(cli: click.Group) -> None:
    cli.add_command(replay_cmd)
