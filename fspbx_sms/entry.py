"""The ``fspbx-sms`` console script: patch the standard library for gevent before importing the rest."""


def main() -> None:
    """Make sockets, locks and PostgreSQL cooperative, then hand over to the command line."""
    from gevent import monkey

    monkey.patch_all()
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()
    from fspbx_sms.cli import cli

    cli()
