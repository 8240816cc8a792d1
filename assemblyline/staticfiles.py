"""WhiteNoise in an async middleware chain.

WhiteNoise 6 is a sync-only middleware. Under ASGI one sync-only middleware splits Django's
chain: every request went thread → event loop → thread (async_to_sync around the inner
middlewares, sync_to_async again for the view), and the event loop in the middle of every
request was the bottleneck under load (bench/: py-spy showed 72% of request time under
`AsyncToSync` below WhiteNoise). This subclass answers static files the same way and passes
every other request on without leaving the event loop, so the whole chain stays async and only
the view runs in a thread.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(get_response, *args, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)
