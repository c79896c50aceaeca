"""Reference channels: values go to Ray's object store, the channel carries references.

Use them for large payloads: the channel actor holds ``ObjectRef`` s, never the values,
so its memory does not grow with them. Values are anything Ray can store; they are not
checked against a value type (which serves static typing only). Everything else (credit,
batching, prefetch, leases) is as for :class:`~klaw_ray.RaySender` and
:class:`~klaw_ray.RayReceiver`.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import ray
from ray.exceptions import RayError

from klaw_ray.ray._messages import GetAnswer
from klaw_ray.ray._receiver import RayReceiver
from klaw_ray.ray._sender import RaySender, _SendState

__all__ = ["RayReferenceReceiver", "RayReferenceSender"]

T = TypeVar("T")


class RayReferenceSender(RaySender[T]):
    """A sender that puts each value in Ray's object store and sends only its reference.

    ``send`` calls ``ray.put`` at once, so the value is in the object store (owned by
    this process) before the call returns.
    """

    __slots__ = ()

    def _item(self, value: Any) -> Any:
        return ray.put(value)

    def _items(self, values: list[Any]) -> list[Any]:
        return [ray.put(value) for value in values]

    def _submit_put(
        self, state: _SendState, seq: int, items: list[Any], stamps: list[tuple[int, float]]
    ) -> Any:
        # An empty envelope: the references travel beside the request.
        request = self._put_request(state, seq, b"\x90", stamps)
        return self._call("put_refs", request, items)


class RayReferenceReceiver(RayReceiver[T]):
    """A receiver that fetches each referenced value from Ray's object store."""

    __slots__ = ()

    async def _values(self, answer: GetAnswer) -> list[Any]:
        try:
            return list(await asyncio.gather(*answer.refs))
        except RayError as exc:
            raise self._backend_error(exc) from exc
