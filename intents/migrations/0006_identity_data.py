"""Existing rows named their submitter, reviewer and idempotency caller by a token's or user's
name, which is not unique. A name that matches exactly one principal becomes its identity
(`principal_identity`), any other `legacy:<name>`; the name is kept as the label. Events keep
the actor they were written with."""

from collections import defaultdict

from django.conf import settings
from django.db import migrations
from django.db.models import F


def _identities(apps):
    """Each name the line used to record, with the principals it could have meant."""
    ApiToken = apps.get_model("executors", "ApiToken")
    Executor = apps.get_model("executors", "Executor")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    meant = defaultdict(set)
    for executor_id in Executor.objects.values_list("executor_id", flat=True):
        meant[executor_id].add(f"executor:{executor_id}")
    for pk, name, role, executor_id in ApiToken.objects.values_list(
        "pk", "name", "role", "executor_id"
    ):
        if role == "executor" and executor_id:
            meant[executor_id].add(f"executor:{executor_id}")
        else:
            meant[name].add(f"token:{pk}")
    for pk, username in User.objects.values_list("pk", "username"):
        meant[username].add(f"user:{pk}")
    return meant


def _identity(meant, name):
    principals = meant.get(name, set())
    return next(iter(principals)) if len(principals) == 1 else f"legacy:{name}"


def forwards(apps, schema_editor):
    Intent = apps.get_model("intents", "Intent")
    IdempotencyKey = apps.get_model("intents", "IdempotencyKey")
    meant = _identities(apps)
    Intent.objects.update(created_by_label=F("created_by"))
    Intent.objects.exclude(reviewed_by="").update(reviewed_by_label=F("reviewed_by"))
    # Rows are matched by their label, so an identity written here is never read as a name.
    for name in Intent.objects.values_list("created_by_label", flat=True).distinct():
        Intent.objects.filter(created_by_label=name).update(created_by=_identity(meant, name))
    reviewers = (
        Intent.objects.exclude(reviewed_by_label="")
        .values_list("reviewed_by_label", flat=True)
        .distinct()
    )
    for name in reviewers:
        Intent.objects.filter(reviewed_by_label=name).update(reviewed_by=_identity(meant, name))
    keys = defaultdict(list)
    for pk, actor in IdempotencyKey.objects.values_list("pk", "actor"):
        keys[actor].append(pk)
    for actor, pks in keys.items():
        for start in range(0, len(pks), 500):
            IdempotencyKey.objects.filter(pk__in=pks[start : start + 500]).update(
                actor=_identity(meant, actor)
            )


def backwards(apps, schema_editor):
    Intent = apps.get_model("intents", "Intent")
    Intent.objects.exclude(created_by_label="").update(created_by=F("created_by_label"))
    Intent.objects.exclude(reviewed_by_label="").update(reviewed_by=F("reviewed_by_label"))


class Migration(migrations.Migration):
    dependencies = [
        ("intents", "0005_principal_identity"),
        ("executors", "0002_executor_online"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
