"""BufferPool: reuse, wiping, bounds, the context manager, threads and tasks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from klaw_wire import Ack, BufferPool, CodecPool, get_buffer_pool


def test_a_new_buffer_is_buffer_size_zero_bytes() -> None:
    pool = BufferPool(buffer_size=128, max_pool=2)
    buf = pool.acquire()
    assert buf == bytearray(128)
    assert (pool.buffer_size, pool.max_pool, pool.available) == (128, 2, 0)


def test_a_released_buffer_is_reused() -> None:
    pool = BufferPool(buffer_size=64)
    buf = pool.acquire()
    pool.release(buf)
    assert pool.available == 1
    assert pool.acquire() is buf
    assert pool.available == 0


def test_no_data_from_an_earlier_user_is_visible_to_the_next() -> None:
    pool = BufferPool(buffer_size=64, max_pool=1)
    secret = b"secret!" * 20
    buf = pool.acquire()
    buf[:] = secret  # longer than buffer_size, within the growth limit
    del buf[100:]  # a small shrink: the allocation's tail still holds the secret
    assert buf.__alloc__() > 130
    pool.release(buf)
    again = pool.acquire()
    assert again is buf
    # The whole allocation, including what was past the visible end, is zeros.
    assert len(again) == again.__alloc__() - 1
    assert set(again) <= {0}


def test_encode_into_a_reused_buffer_overwrites_it() -> None:
    pool, codec = BufferPool(buffer_size=32), CodecPool()
    with pool as buf:
        codec.encode_into(Ack(acked_seq=123456, status="x" * 20), buf)
    with pool as buf:
        written = codec.encode_into(Ack(), buf)
        assert bytes(buf) == codec.encode(Ack())
        assert written == len(buf)


def test_the_pool_is_bounded() -> None:
    pool = BufferPool(buffer_size=16, max_pool=2)
    buffers = [pool.acquire() for _ in range(5)]
    assert len({id(b) for b in buffers}) == 5
    for buf in buffers:
        pool.release(buf)
    assert pool.available == 2


def test_a_buffer_that_grew_far_beyond_buffer_size_is_dropped() -> None:
    pool = BufferPool(buffer_size=16, max_pool=4)
    buf = pool.acquire()
    buf.extend(bytes(16 * BufferPool.GROWTH_LIMIT * 2))
    pool.release(buf)
    assert pool.available == 0
    modest = pool.acquire()
    modest.extend(bytes(16))
    pool.release(modest)
    assert pool.available == 1


def test_releasing_twice_is_refused() -> None:
    pool = BufferPool()
    buf = pool.acquire()
    pool.release(buf)
    with pytest.raises(ValueError, match="released twice"):
        pool.release(buf)
    assert pool.available == 1


def test_release_accepts_only_bytearrays() -> None:
    with pytest.raises(TypeError, match="bytearray"):
        BufferPool().release(b"abc")  # type: ignore[arg-type]


def test_a_foreign_or_empty_buffer_is_adopted() -> None:
    pool = BufferPool(buffer_size=8)
    empty = bytearray()
    pool.release(empty)
    assert pool.acquire() is empty
    assert empty == bytearray()


def test_clear_drops_pooled_buffers() -> None:
    pool = BufferPool()
    pool.release(pool.acquire())
    pool.clear()
    assert pool.available == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"buffer_size": 0}, ValueError),
        ({"max_pool": -1}, ValueError),
        ({"buffer_size": 1.5}, TypeError),
        ({"max_pool": True}, TypeError),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        BufferPool(**kwargs)  # type: ignore[arg-type]


def test_the_context_manager_releases_on_exit_and_on_error() -> None:
    pool = BufferPool(buffer_size=8)
    with pool as buf:
        assert isinstance(buf, bytearray)
        assert pool.available == 0
    assert pool.available == 1
    with pytest.raises(RuntimeError, match="boom"), pool as buf:
        raise RuntimeError("boom")
    assert pool.available == 1
    assert pool.acquire() is buf


def test_nested_context_managers_release_their_own_buffers() -> None:
    first, second = BufferPool(buffer_size=8), BufferPool(buffer_size=8)
    with first as a, second as b, first as c:
        assert a is not c
    assert (first.available, second.available) == (2, 1)
    assert {id(first.acquire()), id(first.acquire())} == {id(a), id(c)}
    assert second.acquire() is b


def test_exit_without_enter_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="without a matching __enter__"):
        BufferPool().__exit__(None, None, None)


def test_many_threads_never_hold_the_same_buffer() -> None:
    pool = BufferPool(buffer_size=64, max_pool=4)
    threads_count, rounds = 12, 400
    barrier = threading.Barrier(threads_count)
    failures: list[str] = []

    def work(worker: int) -> None:
        pattern = bytes([worker + 1]) * 64
        barrier.wait()
        for _ in range(rounds):
            with pool as buf:
                if set(buf) - {0}:
                    failures.append("acquired a buffer with leftover data")
                buf[:] = pattern
                threading.Event().wait(0)  # yield to other threads
                if bytes(buf) != pattern:
                    failures.append("another thread wrote into a held buffer")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert pool.available <= 4


def test_asyncio_tasks_holding_buffers_across_awaits_keep_their_own() -> None:
    pool = BufferPool(buffer_size=16)

    async def hold(tag: int, first: asyncio.Event, second: asyncio.Event) -> bytearray:
        with pool as buf:
            buf[:] = bytes([tag]) * 16
            first.set()
            await second.wait()
            assert bytes(buf) == bytes([tag]) * 16
            return buf

    async def main() -> None:
        a_in, b_in = asyncio.Event(), asyncio.Event()
        task_a = asyncio.create_task(hold(1, a_in, b_in))
        await a_in.wait()
        task_b = asyncio.create_task(hold(2, b_in, asyncio.Event()))
        await b_in.wait()
        # Task a exits first although task b entered last: each releases its own buffer.
        buf_a = await task_a
        assert pool.available == 1
        assert pool.acquire() is buf_a
        task_b.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task_b

    asyncio.run(main())
    assert pool.available == 1


def test_the_process_pool_is_a_singleton() -> None:
    assert get_buffer_pool() is get_buffer_pool()
    assert get_buffer_pool().buffer_size == 4096
    assert get_buffer_pool().max_pool == 64
