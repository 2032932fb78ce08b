"""HsmClient (the host's HsmService) against the in-process server: loopback pair tests."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from hsm_sim.client import HsmClient
from hsm_sim.crypto import (
    derive_icc_mk_a,
    encipher_pinblock,
    generate_arpc_1,
    kcv_tdes,
    mastercard_cvn16_arqc,
    tdes_encrypt_ecb,
    visa_cvn10_arpc,
    visa_cvn10_arqc,
    visa_cvn18_arpc,
    visa_cvn18_arqc,
)
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.protocol import HsmError, HsmService, HsmTimeout, account_number_from_pan
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales.server import HsmServer, ServerConfig

LMK = VariantLmk.test()


async def _server(**kw: Any) -> HsmServer:
    server = HsmServer(SoftHsm(LMK).handle, ServerConfig(port=0, **kw))
    await server.start()
    return server


@pytest.mark.asyncio
async def test_client_is_an_hsm_service() -> None:
    client = HsmClient("127.0.0.1", 1)
    assert isinstance(client, HsmService)
    await client.close()


@pytest.mark.asyncio
async def test_service_methods(hsm_vectors: Any, hsm_keys: Any) -> None:
    server = await _server()
    client = HsmClient("127.0.0.1", server.port, pool_size=2)
    try:
        diag = await client.diagnostics()
        assert diag.ok and diag.lmk_check == LMK.check_value()

        pvv = hsm_vectors("visa_pvv")[0]
        acct = account_number_from_pan(pvv["inputs"]["pan"])
        pb = encipher_pinblock(hsm_keys.tpk, pvv["inputs"]["pin"], acct, "01").hex().upper()
        args: dict[str, Any] = {
            "tpk": hsm_keys.tpk_lmk,
            "pvk": hsm_keys.pvk_lmk,
            "pin_block": pb,
            "pin_block_format": "01",
            "account": acct,
            "pvki": int(pvv["inputs"]["pvki"]),
        }
        assert (await client.verify_terminal_pin_pvv(**args, pvv=pvv["expected"]["pvv"])).ok
        bad = await client.verify_terminal_pin_pvv(**args, pvv="0000")
        assert bad.error_code == "01" and not bad.ok

        ibm = hsm_vectors("ibm3624_offset")[0]
        vd = ibm["inputs"]["validation_data"]
        acct2 = "0000000" + vd[11:]
        pb2 = encipher_pinblock(hsm_keys.tpk, ibm["inputs"]["pin"], acct2, "01").hex().upper()
        r = await client.verify_terminal_pin_ibm(
            tpk=hsm_keys.tpk_lmk, pvk=hsm_keys.pvk_lmk, pin_block=pb2, pin_block_format="01",
            check_length=4, account=acct2,
            decimalization_table=ibm["inputs"]["decimalization_table"],
            pin_validation_data=vd[:11] + "N", offset=ibm["expected"]["offset"],
        )  # fmt: skip
        assert r.ok

        t = await client.translate_pin_tpk_to_zpk(
            tpk=hsm_keys.tpk_lmk, zpk=hsm_keys.zpk_lmk, pin_block=pb, source_format="01",
            destination_format="01", account=acct,
        )  # fmt: skip
        expected = encipher_pinblock(hsm_keys.zpk, pvv["inputs"]["pin"], acct, "01").hex().upper()
        assert t.ok and t.pin_length == 4 and t.pin_block == expected and t.pin_block_format == "01"
        assert "pin_block=" not in repr(t)
        c = await client.translate_pin_zpk_to_zpk(
            source_zpk=hsm_keys.zpk_lmk, destination_zpk=hsm_keys.zpk2_lmk, pin_block=expected,
            source_format="01", destination_format="47", account=acct,
        )  # fmt: skip
        assert c.ok and c.pin_length == 4

        g = await client.generate_key(key_type="001", zmk=hsm_keys.zmk_lmk)
        assert g.ok and g.key_lmk and g.key_zmk and g.key_zmk.startswith("X")
        kc = await client.key_check_value(key_type="001", key=g.key_lmk)
        assert kc.ok and kc.kcv == g.kcv
        ex = await client.export_key(key_type="001", zmk=hsm_keys.zmk_lmk, key=g.key_lmk)
        assert ex.ok and ex.key_zmk == g.key_zmk and ex.kcv == g.kcv
        under_zmk = "X" + tdes_encrypt_ecb(hsm_keys.zmk, hsm_keys.pvk).hex().upper()
        im = await client.import_key(key_type="002", zmk=hsm_keys.zmk_lmk, key_under_zmk=under_zmk)
        assert im.ok and im.kcv == kcv_tdes(hsm_keys.pvk).hex().upper()

        cv = hsm_vectors("visa_cvv")[0]["inputs"]
        gen = await client.generate_cvv(cvk=hsm_keys.cvk_lmk, pan=cv["pan"], expiry=cv["expiry"],
                                        service_code=cv["service_code"])  # fmt: skip
        assert gen.ok and gen.cvv == hsm_vectors("visa_cvv")[0]["expected"]["cvv"]
        ver = await client.verify_cvv(
            cvk=hsm_keys.cvk_lmk, pan=cv["pan"], expiry=cv["expiry"],
            service_code=cv["service_code"], cvv=gen.cvv or "",
        )  # fmt: skip
        assert ver.ok
        assert await client.execute("B2", b"0003abc") == b"B300abc"
        assert await client.execute("QQ", b"") == b"ZZ15"
    finally:
        await client.close()
        await server.close()


@pytest.mark.asyncio
async def test_fifty_requests_in_flight() -> None:
    server = await _server(latency_ms=2)
    client = HsmClient("127.0.0.1", server.port, pool_size=3, timeout=10)
    try:
        payloads = [f"{i:03d}".encode() for i in range(50)]
        answers = await asyncio.gather(*(client.execute("B2", b"0003" + p) for p in payloads))
        assert answers == [b"B300" + p for p in payloads]
        assert len(client._pool) <= 3
    finally:
        await client.close()
        await server.close()


@pytest.mark.asyncio
async def test_timeout_then_recovers() -> None:
    server = await _server(latency_ms=2000)
    client = HsmClient("127.0.0.1", server.port, timeout=0.2)
    try:
        with pytest.raises(HsmTimeout, match="no answer from the HSM in time") as e:
            await client.execute("NC", b"")
        assert e.value.command == "NC" and isinstance(e.value, OSError)
    finally:
        await client.close()
        await server.close()
    with pytest.raises(HsmError, match="client closed"):
        await client.execute("NC", b"")


@pytest.mark.asyncio
async def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = HsmClient("127.0.0.1", port, timeout=1)
    with pytest.raises(HsmError, match="cannot connect to the HSM"):
        await client.diagnostics()
    await client.close()


@pytest.mark.asyncio
async def test_fault_switch_seen_by_client(hsm_keys: Any) -> None:
    server = await _server(fail_with="15", fail_commands=("CA",))
    client = HsmClient("127.0.0.1", server.port)
    try:
        r = await client.translate_pin_tpk_to_zpk(
            tpk=hsm_keys.tpk_lmk, zpk=hsm_keys.zpk_lmk, pin_block="0" * 16, source_format="01",
            destination_format="01", account="401234567890",
        )  # fmt: skip
        assert r.error_code == "15" and r.pin_block is None
        assert (await client.diagnostics()).ok
    finally:
        await client.close()
        await server.close()


@pytest.mark.asyncio
async def test_server_closes_connection_mid_request() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(10)
        writer.close()

    srv = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    client = HsmClient("127.0.0.1", port, timeout=5)
    try:
        with pytest.raises(HsmError, match="connection closed by the HSM"):
            await client.execute("NC", b"")
    finally:
        await client.close()
        srv.close()
        await srv.wait_closed()


@pytest.mark.asyncio
async def test_dukpt_mac_emv_methods(hsm_vectors: Any, hsm_keys: Any) -> None:
    server = await _server()
    client = HsmClient("127.0.0.1", server.port)
    try:
        d = hsm_vectors("dukpt_tdes_transaction")[0]
        bdk = LMK.encrypt_key("009", bytes.fromhex(d["inputs"]["bdk"]), "U")
        acct = account_number_from_pan(hsm_vectors("pinblock_iso0")[0]["inputs"]["pan"])
        t = await client.translate_pin_dukpt_to_zpk(
            bdk=bdk, zpk=hsm_keys.zpk_lmk, ksn=d["inputs"]["ksn"],
            pin_block=d["expected"]["encrypted_pinblock"], source_format="01",
            destination_format="01", account=acct,
        )  # fmt: skip
        assert (
            t.ok
            and t.pin_block == encipher_pinblock(hsm_keys.zpk, "1234", acct, "01").hex().upper()
        )

        m = hsm_vectors("mac_iso9797_alg3")[0]
        tak = LMK.encrypt_key("003", bytes.fromhex(m["inputs"]["key"]), "U")
        msg = m["inputs"]["data_ascii"].encode()
        mac = await client.generate_mac(key=tak, message=msg)
        assert mac.ok and mac.mac is not None and mac.mac.startswith(m["expected"]["mac_left4"])
        assert (await client.verify_mac(key=tak, message=msg, mac=mac.mac)).ok
        assert (await client.verify_mac(key=tak, message=msg, mac=mac.mac[:8])).ok
        assert (
            await client.verify_mac(key=tak, message=msg + b"x", mac=mac.mac)
        ).error_code == "01"

        e = hsm_vectors("emv_visa_cvn10")[0]
        i = e["inputs"]
        tags = ("tag_9f02", "tag_9f03", "tag_9f1a", "tag_95", "tag_5f2a", "tag_9a", "tag_9c",
                "tag_9f37", "tag_82", "tag_9f36")  # fmt: skip
        args: dict[str, Any] = {
            "mk_ac": LMK.encrypt_key("109", bytes.fromhex(i["issuer_mk_ac"]), "U"),
            "scheme": 0,
            "pan_psn": (i["pan"] + i["psn"])[-16:],
            "atc": i["tag_9f36"],
            "unpredictable_number": i["tag_9f37"],
            "transaction_data": bytes.fromhex("".join(i[t] for t in tags) + i["cvr"]),
        }
        r = await client.verify_arqc(**args, arqc=e["expected"]["arqc"], arc=i["arc"])
        assert r.ok and r.arpc == e["expected"]["arpc"]
        assert (await client.verify_arqc(**args, arqc="00" * 8)).error_code == "01"
    finally:
        await client.close()
        await server.close()


@pytest.mark.asyncio
async def test_no_secrets_in_logs(
    caplog: pytest.LogCaptureFixture, hsm_vectors: Any, hsm_keys: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await _server()
    client = HsmClient("127.0.0.1", server.port)
    pan = hsm_vectors("pinblock_iso0")[0]["inputs"]["pan"]
    acct = account_number_from_pan(pan)
    pb = encipher_pinblock(hsm_keys.tpk, "1234", acct, "01").hex().upper()
    try:
        t = await client.translate_pin_tpk_to_zpk(
            tpk=hsm_keys.tpk_lmk, zpk=hsm_keys.zpk_lmk, pin_block=pb, source_format="01",
            destination_format="01", account=acct,
        )  # fmt: skip
        assert t.ok
        await client.execute("CA", b"garbage")
    finally:
        await client.close()
        await server.close()
    records = [r for r in caplog.records if r.name.startswith("hsm_sim")]
    assert any(getattr(r, "command", None) == "CA" for r in records)
    assert all(hasattr(r, "elapsed_ms") for r in records if r.getMessage() == "hsm command")
    secrets_ = [pb, t.pin_block or "", acct, pan, hsm_keys.tpk.hex().upper(),
                hsm_keys.zpk.hex().upper()]  # fmt: skip
    for r in records:
        text = r.getMessage() + " " + " ".join(str(v) for v in vars(r).values())
        for s in secrets_:
            assert s not in text


@pytest.mark.asyncio
async def test_verify_arqc_cvn_kw_over_tcp() -> None:
    """KW through the client: CVN 10 (scheme 0, ARPC method 1), CVN 18 (scheme 3, method 2),
    Mastercard CVN 16 (scheme 1 with the UN); a wrong ARQC is error 01."""
    imk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    pan, psn = "4761739001010010", "01"
    tags = {
        "tag_9f02": bytes.fromhex("000000010000"),
        "tag_9f03": bytes(6),
        "tag_9f1a": bytes.fromhex("0840"),
        "tag_95": bytes(5),
        "tag_5f2a": bytes.fromhex("0840"),
        "tag_9a": bytes.fromhex("261129"),
        "tag_9c": b"\x01",
        "tag_9f37": bytes.fromhex("12345678"),
        "tag_82": bytes.fromhex("1C00"),
        "tag_9f36": bytes.fromhex("0007"),
    }
    data = b"".join(tags.values())
    mk = LMK.encrypt_key("109", imk, "U")
    server = await _server()
    client = HsmClient("127.0.0.1", server.port)
    try:
        cvr = bytes.fromhex("03A00000")
        arqc = visa_cvn10_arqc(imk, pan, psn, **tags, cvr=cvr)
        r = await client.verify_arqc_cvn(
            mk_ac=mk,
            scheme=0,
            pan_psn=pan + psn,
            atc="0007",
            transaction_data=data + cvr,
            arqc=arqc.hex(),
            arc="3030",
        )
        assert r.ok and r.arpc == visa_cvn10_arpc(imk, pan, psn, arqc=arqc, arc=b"00").hex().upper()
        bad = await client.verify_arqc_cvn(
            mk_ac=mk,
            scheme=0,
            pan_psn=pan + psn,
            atc="0007",
            transaction_data=data + cvr,
            arqc="00" * 8,
        )
        assert bad.error_code == "01"
        iad = bytes.fromhex("06011203A00000")
        arqc = visa_cvn18_arqc(imk, pan, psn, **tags, tag_9f10=iad)
        r = await client.verify_arqc_cvn(
            mk_ac=mk,
            scheme=3,
            pan_psn=pan + psn,
            atc="0007",
            transaction_data=data + iad,
            arqc=arqc.hex(),
            csu="00800000",
        )
        want = visa_cvn18_arpc(
            imk, pan, psn, tag_9f36=tags["tag_9f36"], arqc=arqc, csu=bytes.fromhex("00800000")
        )
        assert r.ok and r.arpc == want.hex().upper()
        mcvr = bytes.fromhex("A00003220000")
        arqc = mastercard_cvn16_arqc(imk, pan, psn, **tags, cvr=mcvr)
        r = await client.verify_arqc_cvn(
            mk_ac=mk,
            scheme=1,
            pan_psn=pan + psn,
            atc="0007",
            unpredictable_number="12345678",
            transaction_data=data + mcvr,
            arqc=arqc.hex(),
            arc="3030",
        )
        want = generate_arpc_1(derive_icc_mk_a(imk, pan, psn), arqc, b"00")
        assert r.ok and r.arpc == want.hex().upper()
    finally:
        await client.close()
        await server.close()
