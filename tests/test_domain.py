"""A custom domain under Pulumi's mocks: the certificate in us-east-1, its DNS validation, the alias
records, one's own certificate (string or Output), and a zone elsewhere across two `up`s."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pulumi
import pytest
from moto import mock_aws, settings
from pulumi.runtime.mocks import MockResourceArgs

from scripts.offline.mockrun import MOCK_ACCOUNT_ID, ProgramError, run_inline
from tests.pulumi_scaffold import SiteMocks, by_type, declare_site, one, run_program, stack_outputs

CDN = "aws:cloudfront/distribution:Distribution"
CERTIFICATE = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
ZONE = "Z0EXAMPLE0ZONE"
OWN_CERT = f"arn:aws:acm:us-east-1:{MOCK_ACCOUNT_ID}:certificate/11111111-2222-4333-8444-555555555555"
# What UpdateMocks answers for the distribution and CloudFront's alias zone.
CDN_DOMAIN = "d111111abcdef8.cloudfront.net"
CLOUDFRONT_ZONE = "Z2FDTNDATAQYW2"


@pytest.fixture(autouse=True)
def moto() -> Iterator[None]:
    with mock_aws():
        yield


def _edge_provider_urn(registered: dict[str, Any]) -> str:
    (provider,) = [r for r in by_type(registered, "pulumi:providers:aws") if r.name == "edge"]
    assert provider.props["region"] == "us-east-1"
    return str(provider.urn)


def _alias_records(registered: dict[str, Any]) -> set[tuple[str, str, str, str, str]]:
    found = set()
    for record in by_type(registered, RECORD):
        for alias in record.props.get("aliases") or []:
            found.add(
                (
                    record.props["zoneId"],
                    record.props["name"],
                    record.props["type"],
                    alias["name"],
                    alias["zoneId"],
                )
            )
    return found


def test_a_zone_found_by_the_domain_gets_the_certificate_its_validation_and_alias_records() -> None:
    config = {"domainNames": '["example.com", "www.example.com"]'}
    mocks = SiteMocks(hosted_zones={"example.com": ZONE})
    registered = run_program(config, mocks=mocks)

    certificate = one(registered, CERTIFICATE)
    # CloudFront takes ACM certificates from us-east-1 only: the certificate is on the edge provider.
    assert certificate.provider == _edge_provider_urn(registered)
    assert certificate.props["domainName"] == "example.com"
    assert certificate.props["subjectAlternativeNames"] == ["www.example.com"]
    assert certificate.props["validationMethod"] == "DNS"
    arn = one(registered, VALIDATION).props["certificateArn"]
    assert arn.startswith(f"arn:aws:acm:us-east-1:{MOCK_ACCOUNT_ID}:certificate/")

    # One CNAME per name, with the values ACM asked for, in the zone.
    options = {o["domainName"]: o for o in _certificate_options(certificate)}
    validation_records = [r for r in by_type(registered, RECORD) if r.props["type"] == "CNAME"]
    assert {(r.props["zoneId"], r.props["name"], tuple(r.props["records"])) for r in validation_records} == {
        (ZONE, options[d]["resourceRecordName"], (options[d]["resourceRecordValue"],))
        for d in ("example.com", "www.example.com")
    }
    # The validation waits for exactly those records, and the distribution waits for the validation.
    assert sorted(one(registered, VALIDATION).props["validationRecordFqdns"]) == sorted(
        options[d]["resourceRecordName"].rstrip(".") for d in ("example.com", "www.example.com")
    )
    cdn = one(registered, CDN)
    assert cdn.props["aliases"] == ["example.com", "www.example.com"]
    assert cdn.props["viewerCertificate"] == {
        "acmCertificateArn": arn,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert one(registered, VALIDATION).urn in cdn.property_dependencies["viewerCertificate"]
    assert _alias_records(registered) == {
        (ZONE, name, kind, CDN_DOMAIN, CLOUDFRONT_ZONE)
        for name in ("example.com", "www.example.com")
        for kind in ("A", "AAAA")
    }
    outputs = stack_outputs(config, mocks=SiteMocks(hosted_zones={"example.com": ZONE}))
    assert outputs["url"] == "https://example.com"
    assert outputs["dnsRecords"] == []


def _certificate_options(certificate: Any) -> list[dict[str, str]]:
    """The validation options the mocks answered for this certificate (as ACM would)."""
    from scripts.offline.mockrun import _certificate

    return _certificate(certificate.name, certificate.props, "us-east-1")[1]["domainValidationOptions"]


def test_the_closest_zone_is_found_first() -> None:
    mocks = SiteMocks(hosted_zones={"example.com": "Z0PARENT", "shop.example.com": "Z0CHILD"})
    registered = run_program({"domainNames": '["www.shop.example.com"]'}, mocks=mocks)
    assert {zone for zone, *_ in _alias_records(registered)} == {"Z0CHILD"}


def test_a_given_zone_is_used_without_a_lookup() -> None:
    # No zone in the account's lookup: the given id is used as is.
    registered = run_program({"domainNames": '["www.example.com"]', "hostedZoneId": "Z0GIVEN"})
    assert {r.props["zoneId"] for r in by_type(registered, RECORD)} == {"Z0GIVEN"}
    assert len(by_type(registered, RECORD)) == 3  # one validation CNAME, A and AAAA
    assert one(registered, CDN).props["aliases"] == ["www.example.com"]


def test_a_wildcard_and_its_base_name_share_one_validation_record() -> None:
    registered = run_program(
        {"domainNames": '["example.com", "*.example.com"]'},
        mocks=SiteMocks(hosted_zones={"example.com": ZONE}),
    )
    assert len([r for r in by_type(registered, RECORD) if r.props["type"] == "CNAME"]) == 1
    assert ("Z0EXAMPLE0ZONE", "*.example.com", "AAAA", CDN_DOMAIN, CLOUDFRONT_ZONE) in _alias_records(
        registered
    )


def test_names_of_two_zones_are_refused_naming_the_zone() -> None:
    with pytest.raises(ProgramError) as failure:
        run_program(
            {"domainNames": '["www.example.com", "www.example.org"]'},
            mocks=SiteMocks(hosted_zones={"example.com": ZONE}),
        )
    assert (
        "versioned-site:domainNames www.example.org are not in the Route 53 zone example.com "
        "(Z0EXAMPLE0ZONE) that holds www.example.com: give names of one zone, or set "
        "versioned-site:hostedZoneId and create the other records yourself"
    ) in str(failure.value)


def test_ones_own_certificate_is_used_as_given_with_alias_records_in_the_found_zone() -> None:
    registered = run_program(
        {"domainNames": '["www.example.com"]', "acmCertificateArn": OWN_CERT},
        mocks=SiteMocks(hosted_zones={"example.com": ZONE}),
    )
    assert by_type(registered, CERTIFICATE) == []
    assert by_type(registered, VALIDATION) == []
    assert one(registered, CDN).props["viewerCertificate"]["acmCertificateArn"] == OWN_CERT
    assert _alias_records(registered) == {
        (ZONE, "www.example.com", kind, CDN_DOMAIN, CLOUDFRONT_ZONE) for kind in ("A", "AAAA")
    }


def test_ones_own_certificate_can_be_an_output_of_the_same_program() -> None:
    cdns: list[dict[str, Any]] = []

    def program() -> None:
        import pulumi_aws as aws

        certificate = aws.acm.Certificate(
            "mine",
            domain_name="www.example.com",
            validation_method="EMAIL",
            opts=pulumi.ResourceOptions(provider=aws.Provider("mine-us", region="us-east-1")),
        )
        declare_site(
            "", domain_names=["www.example.com"], acm_certificate_arn=certificate.arn, hosted_zone_id=ZONE
        )

    run = run_inline(program, "versioned-site", "test", {"aws:region": "eu-west-1"}, preview=False)
    cdns = [r.props for r in run.resources if r.type == CDN]
    mine = next(r for r in run.resources if r.type == CERTIFICATE)
    assert cdns[0]["viewerCertificate"]["acmCertificateArn"].startswith("arn:aws:acm:us-east-1:")
    assert (
        mine.urn in next(r for r in run.resources if r.type == CDN).property_dependencies["viewerCertificate"]
    )


def test_an_output_certificate_outside_us_east_1_fails_the_update_naming_it() -> None:
    def program() -> None:
        arn = pulumi.Output.from_input("arn:aws:acm:eu-west-1:123456789012:certificate/x")
        declare_site("", domain_names=["www.example.com"], acm_certificate_arn=arn, hosted_zone_id=ZONE)

    with pytest.raises(
        ProgramError,
        match=re.escape(
            "versioned-site:acmCertificateArn 'arn:aws:acm:eu-west-1:123456789012:certificate/x' "
            "must be an ACM certificate in us-east-1: CloudFront accepts no other region"
        ),
    ):
        run_inline(program, "versioned-site", "test", {"aws:region": "eu-west-1"}, preview=False)


# --- A zone elsewhere: the first `up` outputs the validation records, a later one attaches the names


class MotoCertificateMocks(SiteMocks):
    """The certificate the first `up` requested, as ACM (moto) holds it: the program reads its status."""

    def __init__(self, arn: str) -> None:
        super().__init__()
        self.arn = arn

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        resource_id, outputs = super().new_resource(args)
        if args.typ == CERTIFICATE:
            return self.arn, {**outputs, "arn": self.arn}
        return resource_id, outputs


def _engine_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "root"]


def test_a_zone_elsewhere_serves_the_names_only_once_acm_has_issued_the_certificate(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    acm = boto3.client("acm", region_name="us-east-1")
    arn = acm.request_certificate(DomainName="www.example.com", ValidationMethod="DNS")["CertificateArn"]
    config = {"domainNames": '["www.example.com"]'}
    caplog.set_level(logging.INFO)

    # First `up`: ACM still waits for the records.
    registered = run_program(config, mocks=MotoCertificateMocks(arn))
    certificate = one(registered, CERTIFICATE)
    assert certificate.provider == _edge_provider_urn(registered)
    assert by_type(registered, RECORD) == [] and by_type(registered, VALIDATION) == []
    cdn = one(registered, CDN).props
    assert cdn["aliases"] == []
    assert cdn["viewerCertificate"]["cloudfrontDefaultCertificate"] is True
    assert cdn["viewerCertificate"]["acmCertificateArn"] is None
    # Each line once; the pointer guard's comes from another output, in no fixed order.
    no_zone = (
        "versioned-site: no Route 53 zone for www.example.com in this account: create the DNS records of "
        "the stack output `certificateValidationRecords` at your DNS provider; once ACM has issued the "
        'certificate, `pulumi up` again attaches it and the names (README, "A custom domain")'
    )
    pending = (
        f"versioned-site: certificate {arn} is PENDING_VALIDATION: the site keeps its CloudFront name until "
        "the validation records exist and ACM issues it; then `pulumi up` again"
    )
    assert sorted(_engine_lines(caplog)) == sorted(
        [("INFO", "live version unchanged: none"), ("WARNING", no_zone), ("WARNING", pending)]
    )
    outputs = stack_outputs(config, mocks=MotoCertificateMocks(arn))
    assert outputs["url"] == f"https://{CDN_DOMAIN}"
    assert outputs["dnsRecords"] == [{"name": "www.example.com", "type": "CNAME", "value": CDN_DOMAIN}]
    records: Any = outputs["certificateValidationRecords"]
    (record,) = records
    assert record["type"] == "CNAME" and record["name"].endswith(".www.example.com.")

    # The records exist, ACM has issued it: the next `up` attaches the certificate and the name.
    monkeypatch.setattr(settings, "ACM_VALIDATION_WAIT", 0)
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "ISSUED"
    registered = run_program(config, mocks=MotoCertificateMocks(arn))
    cdn = one(registered, CDN).props
    assert cdn["aliases"] == ["www.example.com"]
    assert cdn["viewerCertificate"] == {
        "acmCertificateArn": arn,
        "cloudfrontDefaultCertificate": None,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert stack_outputs(config, mocks=MotoCertificateMocks(arn))["url"] == "https://www.example.com"


def test_the_certificate_status_reader_asks_acm_in_us_east_1_with_the_stacks_profile(
    deployer_profile: str,
) -> None:
    from components.domain import default_certificate_status_reader

    acm = boto3.client("acm", region_name="us-east-1")
    arn = acm.request_certificate(DomainName="www.example.com", ValidationMethod="DNS")["CertificateArn"]
    read = default_certificate_status_reader(deployer_profile)
    assert read(arn) == "PENDING_VALIDATION"
    assert read(arn.replace(arn[-12:], "000000000000")) is None
    # Another region's ACM does not hold it.
    assert boto3.client("acm", region_name="eu-west-1").list_certificates()["CertificateSummaryList"] == []


@pytest.mark.usefixtures("versioned_site_project")
@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        (
            {"domain_names": ["WWW.example.com"]},
            "versioned-site:domainNames entry 'WWW.example.com' is not a host name CloudFront can "
            "serve: give lowercase names such as www.example.com (a leading *. for a wildcard)",
        ),
        (
            {"domain_names": ["example.com", "example.com"]},
            "versioned-site:domainNames lists a name twice: list each name once",
        ),
        (
            {"acm_certificate_arn": OWN_CERT},
            "versioned-site:acmCertificateArn is set without versioned-site:domainNames: CloudFront uses a "
            "certificate only for its alternate names; add the names or remove the certificate",
        ),
        (
            {"hosted_zone_id": ZONE},
            "versioned-site:hostedZoneId is set without versioned-site:domainNames: add the names the zone "
            "should point at the site, or remove the zone",
        ),
        (
            {"domain_names": ["example.com"], "hosted_zone_id": "/hostedzone/Z0EXAMPLE"},
            "versioned-site:hostedZoneId '/hostedzone/Z0EXAMPLE' is not a Route 53 hosted zone id: "
            "give the id shown by `aws route53 list-hosted-zones`, e.g. Z0123456789ABCDEFGHIJ "
            "(without /hostedzone/)",
        ),
        (
            {"domain_names": ["example.com"], "acm_certificate_arn": "arn:aws:acm:eu-west-1:1:certificate/x"},
            "versioned-site:acmCertificateArn 'arn:aws:acm:eu-west-1:1:certificate/x' must be an ACM "
            "certificate in us-east-1: CloudFront accepts no other region",
        ),
    ],
)
def test_each_bad_domain_setting_is_refused_with_the_fix(settings_: dict[str, Any], message: str) -> None:
    from components.site import VersionedStaticSiteArgs

    args: dict[str, Any] = {
        "version": None,
        "parameter_name": "/versioned-site/test/version",
        "edge_provider": None,
    }
    with pytest.raises(ValueError) as refused:
        VersionedStaticSiteArgs(**{**args, **settings_}).validate()
    assert str(refused.value) == message
