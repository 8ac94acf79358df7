"""Create the API roles: `viewer` (reads) and `operator` (reads and writes)."""

from django.db import migrations


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ("viewer", "operator"):
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0002_lease"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
