from io import StringIO

from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import override_settings


def run_bootstrap() -> str:
    out = StringIO()
    call_command("bootstrap_admin", stdout=out)
    return out.getvalue()


def test_bootstrap_admin_prints_a_working_login_on_every_run(db, tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        first = run_bootstrap()
        password = first.split("admin / ")[1].split()[0]
        assert authenticate(username="admin", password=password).is_superuser
        assert (tmp_path / "admin_password").stat().st_mode & 0o777 == 0o600
        assert run_bootstrap() == first
