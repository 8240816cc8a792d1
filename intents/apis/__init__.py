"""The line's HTTP API: one APIView per operation (assemblyline/urls.py routes them)."""

from intents.apis.executors import ExecutorHeartbeatApi, ExecutorRegisterApi
from intents.apis.intents import IntentDetailApi, IntentListApi, IntentSubmitApi, LineStateApi
from intents.apis.review import IntentApproveApi, IntentCancelApi, IntentRejectApi, IntentRequeueApi
from intents.apis.work import (
    VerifyApi,
    WorkCompleteApi,
    WorkNextApi,
    WorkProgressApi,
    WorkReleaseApi,
)

__all__ = [
    "ExecutorHeartbeatApi",
    "ExecutorRegisterApi",
    "IntentApproveApi",
    "IntentCancelApi",
    "IntentDetailApi",
    "IntentListApi",
    "IntentRejectApi",
    "IntentRequeueApi",
    "IntentSubmitApi",
    "LineStateApi",
    "VerifyApi",
    "WorkCompleteApi",
    "WorkNextApi",
    "WorkProgressApi",
    "WorkReleaseApi",
]
