"""Create the `admin` superuser on first run; print the login `make run` users need."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the 'admin' superuser if missing and keep its generated password in "
        "var/admin_password (mode 600), so every `make run` can print the login."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        password_file = Path(settings.VAR_DIR) / f"{username}_password"
        if not User.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if password_file.exists():
            password = password_file.read_text().strip()
            shown = f"{password}   (kept in {password_file}; stale if changed since)"
        else:
            shown = "as set by you (reset: manage.py changepassword admin)"
        self.stdout.write(f"  Login:      {username} / {shown}")
