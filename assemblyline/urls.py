from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from intents import apis, views
from intents.longpoll import long_poll
from intents.metrics import MetricsApi
from udc import apis as udc
from udc.health import health
from verification.egress import live_checks

handler400 = "core.errors.json_bad_request"
handler404 = "core.errors.json_not_found"
handler500 = "core.errors.json_server_error"

urlpatterns = [
    path("health", health, name="health"),
    path("capabilities", udc.CapabilitiesApi.as_view(), name="udc-capabilities"),
    path("state", udc.UdcStateApi.as_view(), name="udc-state"),
    path("dependencies", udc.DependenciesApi.as_view(), name="udc-dependencies"),
    path("message", udc.MessageApi.as_view(), name="udc-message"),
    path("send", udc.SendApi.as_view(), name="udc-send"),
    path("assembly-line/verify", live_checks("verify")(apis.VerifyApi.as_view()), name="verify"),
    path("assembly-line/intent", apis.IntentSubmitApi.as_view(), name="intent-submit"),
    path("assembly-line/work/next", long_poll(apis.WorkNextApi.as_view()), name="work-next"),
    path("assembly-line/work/progress", apis.WorkProgressApi.as_view(), name="work-progress"),
    path(
        "assembly-line/work/complete",
        live_checks("complete")(apis.WorkCompleteApi.as_view()),
        name="work-complete",
    ),
    path("assembly-line/work/release", apis.WorkReleaseApi.as_view(), name="work-release"),
    path("assembly-line/state", apis.LineStateApi.as_view(), name="line-state"),
    path("assembly-line/dashboard", views.dashboard, name="dashboard"),
    path(
        "assembly-line/dashboard/intents/<str:intent_id>",
        views.intent_detail,
        name="intent-page",
    ),
    path("assembly-line/intents/", apis.IntentListApi.as_view(), name="intent-list"),
    path(
        "assembly-line/intents/<str:intent_id>",
        apis.IntentDetailApi.as_view(),
        name="intent-detail",
    ),
    path(
        "assembly-line/intents/<str:intent_id>/cancel",
        apis.IntentCancelApi.as_view(),
        name="intent-cancel",
    ),
    path(
        "assembly-line/intents/<str:intent_id>/requeue",
        apis.IntentRequeueApi.as_view(),
        name="intent-requeue",
    ),
    path(
        "assembly-line/intents/<str:intent_id>/approve",
        apis.IntentApproveApi.as_view(),
        name="intent-approve",
    ),
    path(
        "assembly-line/intents/<str:intent_id>/reject",
        apis.IntentRejectApi.as_view(),
        name="intent-reject",
    ),
    path(
        "assembly-line/executors/register",
        apis.ExecutorRegisterApi.as_view(),
        name="executor-register",
    ),
    path(
        "assembly-line/executors/heartbeat",
        apis.ExecutorHeartbeatApi.as_view(),
        name="executor-heartbeat",
    ),
    path("metrics", MetricsApi.as_view(), name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP allows no inline one.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]
