import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from suite.models import Role
from suite.testing import TeamFactory, api_client_for, make_member

@pytest.mark.parametrize("path", ["teams", "memberships", "tokens", "companies"])
def test_count(company, path):
    admin = make_member(company, Role.ADMIN)
    teams = [TeamFactory(company=company, manager=admin.user) for _ in range(5)]
    for index in range(20):
        make_member(company, Role.SALES, teams=teams[index % 5 : index % 5 + 2])
    client = api_client_for(admin)
    client.get(f"/api/v1/suite/{path}/")
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(f"/api/v1/suite/{path}/")
    print(path, r.status_code, len(ctx.captured_queries))
    for q in ctx.captured_queries: print("   ", q["sql"][:150])
