"""Which addresses a webhook may reach: public ones, and the operator's named private hosts."""

from __future__ import annotations

import pytest

from service.adapters.outbound import AddressPolicy, RefusedAddressError


def answers(table: dict[str, list[str]]) -> AddressPolicy:
    policy = AddressPolicy()
    policy.resolve = lambda host, port: table[host]
    return policy


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.1/", "http://2130706433/", "http://0177.0.0.1/",
    "http://0x7f000001/", "http://0x7f.0.0.1/", "http://169.254.169.254/", "http://10.1.2.3/",
    "http://172.16.0.1/", "http://192.168.0.1/", "http://100.64.0.1/", "http://0.0.0.0/",
    "http://224.0.0.1/", "http://240.0.0.1/", "http://255.255.255.255/", "http://[::1]/",
    "http://[::]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://[fe80::1]/",
    "http://[fc00::1]/", "http://[ff02::1]/", "http://[2002:7f00:1::]/", "http://[64:ff9b::a00:1]/",
])
def test_loopback_private_link_local_multicast_unspecified_and_reserved_addresses_are_refused(
        url: str) -> None:
    with pytest.raises(RefusedAddressError):
        AddressPolicy().target(url)


def test_a_name_is_checked_after_resolution_and_refused_if_any_answer_is_private() -> None:
    policy = answers({"mixed.example": ["93.184.216.34", "10.0.0.1"], "localhost": ["127.0.0.1"]})
    for url in ("https://mixed.example/h", "http://localhost:8000/"):
        with pytest.raises(RefusedAddressError):
            policy.target(url)


def test_a_public_name_is_connected_to_at_the_checked_address_under_its_own_name() -> None:
    policy = answers({"hooks.example.com": ["93.184.216.34"]})
    target = policy.target("https://hooks.example.com:8443/in?x=1")
    assert target.url == "https://93.184.216.34:8443/in?x=1"
    assert (target.host_header, target.server_name) == ("hooks.example.com:8443", "hooks.example.com")
    v6 = answers({"v6.example.com": ["2606:4700::1111"]}).target("http://v6.example.com/")
    assert v6.url == "http://[2606:4700::1111]/" and v6.host_header == "v6.example.com"


def test_the_operator_may_allow_a_named_private_host_and_only_that_one() -> None:
    table = {"sms.school.lan": ["10.0.0.8"], "other.school.lan": ["10.0.0.7"]}
    policy = AddressPolicy.from_setting("sms.school.lan, 10.0.0.9")
    policy.resolve = lambda host, port: table[host]
    assert policy.target("http://SMS.school.lan/send").address == "10.0.0.8"
    assert policy.target("http://10.0.0.9/send").address == "10.0.0.9"
    with pytest.raises(RefusedAddressError):
        policy.target("http://other.school.lan/send")
    with pytest.raises(RefusedAddressError):
        policy.target("http://167772169/send")  # 10.0.0.9 spelt as an integer is not the name allowed
