"""The customer service is up unless ORDERS_SERVICE=down (replay in CI: no network).

ORDERS_DUMP_DIR, when set, receives a dump of every flow result a test makes, so the
driver can check that replayed results equal the live ones exactly.
"""

import os
import re
from pathlib import Path

import customer_service
import pytest
from orders.flow import SERVICE_ENV

CSV = """order,customer,amount
o1,c1,40.5
o2,c2,12.0
o3,c3,99.9
o4,c2,30.0
o5,c4,77.25
o6,c1,8.0
"""


@pytest.fixture(scope="session", autouse=True)
def service():
    if os.environ.get("ORDERS_SERVICE") == "down":
        os.environ[SERVICE_ENV] = customer_service.down()
        yield None
        return
    with customer_service.running() as url:
        os.environ[SERVICE_ENV] = url
        yield url


@pytest.fixture
def csv_text():
    return CSV


@pytest.fixture
def dump(request):
    """dump(result): write every address with its status and output's repr (dict order,
    types and nesting show) for the driver to compare across modes."""
    target = os.environ.get("ORDERS_DUMP_DIR")

    def write(result):
        if not target:
            return
        lines = [
            f"{address}\t{r.status.value}\t{r.output!r}" for address, r in result.steps.items()
        ]
        lines.append(f"outputs\t{result.status.value}\t{result.outputs!r}")
        name = re.sub(r"[^\w.-]", "_", request.node.nodeid)
        Path(target, name + ".txt").write_text("\n".join(lines) + "\n")

    return write
