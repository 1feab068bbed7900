"""Command-line entry points: demo coop, seeding, cut-off by hand."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import click
from flask import Flask, current_app


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--reset", is_flag=True, help="Drop the demo data first (SQLite demo only).")
    def seed_demo_command(reset: bool) -> None:
        """Create the demo coop (members, producers, products, distributions) and print the logins."""
        from marketplace.demo import seed_demo

        logins = seed_demo()
        if logins is None:
            click.echo("Demo data already present.")
            return
        click.echo("Demo coop ready. Logins (password for all: {}):".format(logins["password"]))
        for role, email in logins["accounts"]:
            click.echo(f"  {role:<10} {email}")

    @app.cli.command("close-due")
    def close_due_command() -> None:
        """Run the cut-off of every distribution whose ordering window has closed."""
        from marketplace.extensions import db
        from marketplace.orders.services import close_due_distributions

        closed = close_due_distributions()
        db.session.commit()
        click.echo(f"Closed {len(closed)} distribution(s): {closed}")

    @app.cli.command("demo")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    def demo_command(host: str, port: int) -> None:
        """Migrate, seed, then serve the demo with a Celery worker and beat beside the web server."""
        from flask_migrate import upgrade

        from marketplace.demo import seed_demo

        upgrade()
        logins = seed_demo()
        if logins:
            click.echo("Logins (password for all: {}):".format(logins["password"]))
            for role, email in logins["accounts"]:
                click.echo(f"  {role:<10} {email}")
        env = dict(os.environ)
        children = [
            subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
                              "--loglevel=warning", "--concurrency=1", "--pool=solo"], env=env),
            subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker.celery_app", "beat",
                              "--loglevel=warning", "--schedule",
                              os.path.join(current_app.instance_path, "celerybeat-schedule")], env=env),
        ]

        def stop_children(*_args) -> None:
            for child in children:
                child.terminate()
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop_children)
        click.echo(f"\n  The demo coop is open at http://{host}:{port}/\n")
        try:
            from werkzeug.serving import run_simple

            # app.run() is a no-op under the `flask` command; serve directly.
            run_simple(host, port, current_app._get_current_object(), threaded=True)
        finally:
            for child in children:
                child.terminate()
