"""The benchmark harness: loopback-only targets, the HTTP client and load loop, the data generator."""

import socket
import threading

import pytest

import bench
from bench import http_load
from bench.generators import GenerationContext, discover, sizes_for
from suite.models import Company, Membership, Role, Team


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1"])
def test_loopback_hosts_are_accepted(host):
    assert bench.is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    ["10.0.0.1", "0.0.0.0", "192.168.1.5",  # noqa: S104 "169.254.169.254", "example.com", "localhost.example.com",
     "2130706433", "0x7f000001", "127.1", "::", "fe80::1", ""],
)  # fmt: skip
def test_other_hosts_are_refused_without_resolving_them(host):
    assert not bench.is_loopback_host(host)


def test_http_load_refuses_a_remote_target_before_sending_anything(capsys):
    assert http_load.main(["--url", "http://10.0.0.1:8000"]) == 2
    assert http_load.main(["--url", "https://127.0.0.1:8443"]) == 2  # plain http on loopback only
    assert "refusing http://10.0.0.1:8000" in capsys.readouterr().err


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]

    assert bench.percentile(values, 0.50) == 50
    assert bench.percentile(values, 0.95) == 95
    assert bench.percentile(values, 0.99) == 99
    assert bench.percentile([7.0], 0.99) == 7
    assert bench.percentile([], 0.5) == 0


class TinyServer:
    """A loopback HTTP/1.1 server answering every request on a kept-alive connection: by Content-Length,
    chunked, or (every 5th response) with Connection: close — the three ways a response can end."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.served = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                _, _, buffer = buffer.partition(b"\r\n\r\n")
                with self.lock:
                    self.served += 1
                    n = self.served
                if n % 5 == 0:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
                    return
                if n % 2:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                else:
                    chunked = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)

    def close(self) -> None:
        self.sock.close()


def test_load_loop_counts_every_answer_with_percentiles():
    server = TinyServer()
    try:
        result = http_load.run_operation(
            f"http://127.0.0.1:{server.port}", http_load.Operation("tiny", "/"),
            concurrency=4, processes=2, requests=400, duration=30, warmup=0,
        )  # fmt: skip
    finally:
        server.close()

    assert len(result.latencies) == 400
    assert result.errors == 0
    assert result.statuses == {200: 400}
    assert result.latencies == sorted(result.latencies)
    assert 0 < result.pct_ms(0.50) <= result.pct_ms(0.95) <= result.pct_ms(0.99)
    assert result.requests_per_second > 0


def test_unexpected_statuses_and_refused_connections_are_errors():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once closed

    result = http_load.run_operation(
        f"http://127.0.0.1:{port}", http_load.Operation("nothing", "/"),
        concurrency=2, processes=1, requests=10, duration=10, warmup=0,
    )  # fmt: skip

    assert result.latencies == []
    assert result.errors == 10
    assert result.statuses == {0: 10}


@pytest.mark.django_db
def test_the_suite_generator_scales_the_demo_shape_and_reuses_what_exists():
    generators = [g for g in discover() if g.name == "suite.tenancy"]
    sizes = sizes_for(generators, "small", {"companies": 2, "users_per_company": 60})

    written = generators[0].run(GenerationContext(sizes=sizes))
    again = generators[0].run(GenerationContext(sizes=sizes))

    assert written["suite.Company"] == 2
    assert written["auth.User"] == written["suite.Membership"] == 120
    assert again == dict.fromkeys(written, 0)
    company = Company.objects.get(code="bench-0001")
    roles = list(Membership.objects.filter(company=company).values_list("role", flat=True))
    assert set(roles) == set(Role.values)
    assert roles.count(Role.SALES) == max(roles.count(r) for r in Role.values)
    sales_teams = Team.objects.filter(company=company, kind=Team.Kind.SALES)
    assert sales_teams.count() >= 2
    assert all(team.parent.name == "销售部" for team in sales_teams)
    for team in Team.objects.filter(company=company).select_related("manager"):
        assert Membership.objects.filter(company=company, user=team.manager).exists(), team.name
    assert not Membership.objects.filter(company=company, role=Role.SALES, teams__isnull=True).exists()


def test_unknown_sizes_are_refused():
    with pytest.raises(ValueError, match="unknown size"):
        sizes_for(discover(), "small", {"customers_per_galaxy": 3})
