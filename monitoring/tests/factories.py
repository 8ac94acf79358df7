import factory
from django.contrib.auth import get_user_model

from monitoring.models import AuditEvent, BotHealth, BotRun, HealthStatus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class SuperUserFactory(UserFactory):
    username = "root"
    is_staff = True
    is_superuser = True


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    actor_label = "system"
    action = "test.event"
    target = "nothing"


class BotRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BotRun

    started_by = "operator"


class BotHealthFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BotHealth
        django_get_or_create = ("component",)

    component = "monitor"
    status = HealthStatus.OK
