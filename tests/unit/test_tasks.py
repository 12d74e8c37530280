"""Stopping tasks for certain, even one that lost a cancellation (Python 3.11's ``wait_for``)."""

from __future__ import annotations

import asyncio

from dronewatch.tasks import cancel_and_wait


def test_a_task_that_lost_its_cancellation_is_cancelled_again_until_it_ends() -> None:
    cancellations: list[int] = []

    async def forgetful() -> None:
        while True:  # takes the first cancellation as a finished wait, as 3.11's wait_for can
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancellations.append(1)
                if len(cancellations) > 1:
                    raise

    async def scenario() -> tuple[bool, bool]:
        tasks = [asyncio.create_task(forgetful()), asyncio.create_task(asyncio.sleep(60))]
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_and_wait(tasks), 5.0)
        return tasks[0].cancelled(), tasks[1].cancelled()

    assert asyncio.run(scenario()) == (True, True)
    assert len(cancellations) == 2


def test_finished_tasks_and_none_at_all_are_fine() -> None:
    async def scenario() -> None:
        done = asyncio.create_task(asyncio.sleep(0))
        await done
        await cancel_and_wait([done])
        await cancel_and_wait([])

    asyncio.run(scenario())
