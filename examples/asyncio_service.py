"""An asyncio service that does its leader work only while it leads.

Run: python examples/asyncio_service.py [STORE_URL] [ROUNDS]   (default: temporary embedded store)
Each round campaigns, works while leading (the body is cancelled at the local deadline if the
lease is lost, then LeaseLost is raised), and releases. Renewal runs on leaselect's threads,
so blocking code in the loop does not cost the lease.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

import leaselect
from leaselect.aio import AsyncElector


async def serve_one_tenure(elector: AsyncElector) -> None:
    try:
        async with elector as lease:
            for beat in range(3):
                print(f"working: beat {beat} token {lease.token}", flush=True)
                await asyncio.sleep(0.1)
    except leaselect.LeaseLost as exc:
        print(f"stopped: {exc}", flush=True)


async def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/leases.db"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    elector = AsyncElector(
        url,
        "async-service",
        ttl=5.0,
        on_elected=lambda lease: print(f"elected with token {lease.token}", flush=True),
        on_lost=lambda lease, reason: print(f"lost token {lease.token}: {reason.value}"),
    )
    try:
        for _ in range(rounds):
            await serve_one_tenure(elector)
        print(f"leader now: {await elector.leader()}", flush=True)
    finally:
        await elector.close()


if __name__ == "__main__":
    asyncio.run(main())
