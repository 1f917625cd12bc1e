"""A custom domain for the site: its certificate (ACM, us-east-1), DNS validation and the alias records.

Three ways to serve `domain_names` (docs/adoption.md, "A custom domain"):
- **a Route 53 zone** (`hosted_zone_id`, or found in this account by the domain's name): the component
  requests the certificate, writes its DNS validation records in the zone, waits for ACM to issue it
  (`CertificateValidation`), and points every name at the distribution with alias `A` and `AAAA`
  records;
- **one's own certificate** (`acm_certificate_arn`, a string or an `Output`): used as given; the alias
  records are still written when a zone is given or found;
- **a zone elsewhere**: the component requests the certificate and exports the validation records; the
  distribution keeps its default name until ACM has issued the certificate, and the `up` after that
  attaches the certificate and the names. The program reads the certificate's status from ACM (it is
  not in the state until a refresh).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config_key import config_key
from edge_lambda import layout

# CloudFront accepts ACM certificates from us-east-1 only.
CERTIFICATE_REGION = layout.EDGE_REGION
# The certificate's status once ACM has issued it (DescribeCertificate).
ISSUED = "ISSUED"
# The newest TLS policy every viewer since 2021 supports; the policy pack requires TLS 1.2 at least.
MINIMUM_PROTOCOL_VERSION = "TLSv1.2_2021"

# A host name CloudFront takes as an alternate domain name: lowercase labels, an optional leading `*.`.
_DOMAIN_NAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")

CertificateStatusReader = Callable[[str], str | None]
"""(certificate ARN) -> its status in ACM (`ISSUED`, `PENDING_VALIDATION`, ...), None when not found."""
ZoneFinder = Callable[[str], str | None]
"""(zone name) -> the id of this account's public Route 53 zone of that name, None when there is none."""


def validate(
    domain_names: Sequence[str], certificate: pulumi.Input[str] | None, hosted_zone_id: str | None
) -> None:
    """The domain settings' invariants, checked before anything is created (VersionedStaticSiteArgs)."""
    for domain in domain_names:
        if not isinstance(domain, str) or not _DOMAIN_NAME.match(domain):
            raise ValueError(
                f"{config_key('domainNames')} entry {domain!r} is not a host name CloudFront can serve: "
                "give lowercase names such as www.example.com (a leading *. for a wildcard)"
            )
    if len(set(domain_names)) != len(domain_names):
        raise ValueError(f"{config_key('domainNames')} lists a name twice: list each name once")
    if not domain_names:
        if certificate is not None:
            raise ValueError(
                f"{config_key('acmCertificateArn')} is set without {config_key('domainNames')}: CloudFront "
                "uses a certificate only for its alternate names; add the names or remove the certificate"
            )
        if hosted_zone_id:
            raise ValueError(
                f"{config_key('hostedZoneId')} is set without {config_key('domainNames')}: add the names the "
                "zone should point at the site, or remove the zone"
            )
    if hosted_zone_id and not _ZONE_ID.match(hosted_zone_id):
        raise ValueError(
            f"{config_key('hostedZoneId')} {hosted_zone_id!r} is not a Route 53 hosted zone id: give the id "
            "shown by `aws route53 list-hosted-zones`, e.g. Z0123456789ABCDEFGHIJ (without /hostedzone/)"
        )
    if isinstance(certificate, str):
        check_certificate_region(certificate)


def check_certificate_region(arn: str) -> str:
    """`arn` when it is an ACM certificate in us-east-1; raises with the fix otherwise."""
    if not arn.startswith(f"arn:aws:acm:{CERTIFICATE_REGION}:"):
        raise ValueError(
            f"{config_key('acmCertificateArn')} {arn!r} must be an ACM certificate in {CERTIFICATE_REGION}: "
            "CloudFront accepts no other region"
        )
    return arn


def zone_candidates(domain: str) -> list[str]:
    """The names a zone holding `domain` can have, longest first: www.example.com, example.com."""
    labels = domain.removeprefix("*.").split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def in_zone(domain: str, zone: str) -> bool:
    name = domain.removeprefix("*.")
    return name == zone or name.endswith(f".{zone}")


def find_zone(domain_names: Sequence[str], find: ZoneFinder) -> str | None:
    """The id of the one zone that holds every name (the closest zone of the first name), or None."""
    for candidate in zone_candidates(domain_names[0]):
        zone_id = find(candidate)
        if zone_id is None:
            continue
        outside = [d for d in domain_names if not in_zone(d, candidate)]
        if outside:
            raise ValueError(
                f"{config_key('domainNames')} {', '.join(outside)} are not in the Route 53 zone {candidate} "
                f"({zone_id}) that holds {domain_names[0]}: give names of one zone, or set "
                f"{config_key('hostedZoneId')} and create the other records yourself"
            )
        return zone_id
    return None


def default_zone_finder(provider: pulumi.ProviderResource) -> ZoneFinder:
    """Looks a public zone up by name with the provider's credentials (aws.route53.get_zone)."""

    def find(zone_name: str) -> str | None:
        try:
            zone = aws.route53.get_zone(
                name=zone_name, private_zone=False, opts=pulumi.InvokeOptions(provider=provider)
            )
        except Exception as exc:  # the provider fails the invoke when no zone matches
            if "no matching" in str(exc).lower():
                return None
            raise
        return zone.zone_id

    return find


def default_certificate_status_reader(profile: str | None) -> CertificateStatusReader:
    """ACM DescribeCertificate in us-east-1 with the stack's profile (the guards' credentials)."""

    def read(arn: str) -> str | None:
        import boto3
        from botocore.exceptions import ClientError

        acm = boto3.session.Session(profile_name=profile, region_name=CERTIFICATE_REGION).client("acm")
        try:
            return str(acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise

    return read


def record_label(domain: str) -> str:
    """A resource-name part for `domain`: www.example.com -> www-example-com, *.example.com -> wildcard-..."""
    return domain.replace("*.", "wildcard.").replace(".", "-")


@dataclass
class CustomDomain:
    """What the distribution gets, and what the stack exports."""

    aliases: pulumi.Input[Sequence[str]]
    viewer_certificate: aws.cloudfront.DistributionViewerCertificateArgs
    hosted_zone_id: str | None
    certificate: aws.acm.Certificate | None
    validation_records: pulumi.Output[list[dict[str, str]]]
    """The CNAMEs ACM looks for: [{name, type, value}], empty with one's own certificate."""


def _validation_records(certificate: aws.acm.Certificate) -> pulumi.Output[list[dict[str, str]]]:
    def records(options: Sequence[Any]) -> list[dict[str, str]]:
        seen: dict[str, dict[str, str]] = {}
        for option in options or []:
            name = option.resource_record_name
            # A name and its wildcard share one record.
            seen.setdefault(
                name,
                {"name": name, "type": option.resource_record_type, "value": option.resource_record_value},
            )
        return list(seen.values())

    return certificate.domain_validation_options.apply(records)


def _validation_record(certificate: aws.acm.Certificate, domain: str, field: str) -> pulumi.Output[str]:
    def pick(options: Sequence[Any]) -> str:
        for option in options or []:
            if option.domain_name == domain:
                return str(getattr(option, field))
        raise ValueError(f"ACM returned no DNS validation record for {domain}")

    return certificate.domain_validation_options.apply(pick)


def prepare(
    site: pulumi.ComponentResource,
    name: str,
    domain_names: Sequence[str],
    own_certificate: pulumi.Input[str] | None,
    hosted_zone_id: str | None,
    edge_provider: pulumi.ProviderResource,
    tags: Mapping[str, str],
    find_zone_id: ZoneFinder,
    read_certificate_status: CertificateStatusReader,
) -> CustomDomain:
    """The certificate (one's own, or requested here and validated in the zone) and the names."""
    zone_id = hosted_zone_id or find_zone(domain_names, find_zone_id)
    names = list(domain_names)
    if own_certificate is not None:
        arn = pulumi.Output.from_input(own_certificate).apply(check_certificate_region)
        return CustomDomain(
            aliases=names,
            viewer_certificate=_acm_viewer_certificate(arn),
            hosted_zone_id=zone_id,
            certificate=None,
            validation_records=pulumi.Output.from_input([]),
        )

    # One certificate for every name (the first as its subject), validated through DNS: ACM renews it by
    # itself as long as the validation records stay (ACM docs, "DNS validation").
    certificate = aws.acm.Certificate(
        f"{name}-certificate",
        domain_name=names[0],
        subject_alternative_names=names[1:] or None,
        validation_method="DNS",
        tags=dict(tags) or None,
        opts=pulumi.ResourceOptions(parent=site, provider=edge_provider),
    )
    validation_records = _validation_records(certificate)
    if zone_id is not None:
        fqdns = []
        for domain in names:
            # ACM validates *.example.com with example.com's record: one resource per record.
            if domain.startswith("*.") and domain.removeprefix("*.") in names:
                continue
            record = aws.route53.Record(
                f"{name}-validation-{record_label(domain)}",
                zone_id=zone_id,
                name=_validation_record(certificate, domain, "resource_record_name"),
                type=_validation_record(certificate, domain, "resource_record_type"),
                records=[_validation_record(certificate, domain, "resource_record_value")],
                ttl=300,
                # ACM gives every certificate of a name the same CNAME: a replacement certificate (or a
                # second stack of the same name) finds the record already there.
                allow_overwrite=True,
                opts=pulumi.ResourceOptions(parent=certificate),
            )
            fqdns.append(record.fqdn)
        # Waits until ACM has issued the certificate (the provider's default timeout is 75 minutes).
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=fqdns,
            opts=pulumi.ResourceOptions(parent=certificate),
        )
        return CustomDomain(
            aliases=names,
            viewer_certificate=_acm_viewer_certificate(validation.certificate_arn),
            hosted_zone_id=zone_id,
            certificate=certificate,
            validation_records=validation_records,
        )

    # A zone elsewhere: nothing here can create the records. CloudFront refuses an alternate name
    # without a valid certificate covering it, so the names wait until ACM has issued it.
    pulumi.log.warn(
        f"versioned-site: no Route 53 zone for {names[0]} in this account: create the DNS records of the "
        "stack output `certificateValidationRecords` at your DNS provider; once ACM has issued the "
        'certificate, `pulumi up` again attaches it and the names (README, "A custom domain")',
        resource=site,
    )
    issued = certificate.arn.apply(lambda arn: _is_issued(arn, read_certificate_status, names))
    return CustomDomain(
        aliases=issued.apply(lambda ok: names if ok else []),
        viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
            acm_certificate_arn=pulumi.Output.all(issued, certificate.arn).apply(
                lambda v: v[1] if v[0] else None
            ),
            cloudfront_default_certificate=issued.apply(lambda ok: None if ok else True),
            ssl_support_method=issued.apply(lambda ok: "sni-only" if ok else None),
            minimum_protocol_version=issued.apply(lambda ok: MINIMUM_PROTOCOL_VERSION if ok else None),
        ),
        hosted_zone_id=None,
        certificate=certificate,
        validation_records=validation_records,
    )


def _is_issued(arn: str, read: CertificateStatusReader, names: Sequence[str]) -> bool:
    status = read(arn)
    if status == ISSUED:
        pulumi.log.info(f"versioned-site: certificate {arn} is issued: serving {', '.join(names)}")
        return True
    pulumi.log.warn(
        f"versioned-site: certificate {arn} is {status or 'not in ACM'}: the site keeps its "
        f"CloudFront name until the validation records exist and ACM issues it; then `pulumi up` again"
    )
    return False


def _acm_viewer_certificate(arn: pulumi.Input[str]) -> aws.cloudfront.DistributionViewerCertificateArgs:
    return aws.cloudfront.DistributionViewerCertificateArgs(
        acm_certificate_arn=arn,
        # SNI: a dedicated-IP certificate costs $600 a month, and every current viewer sends SNI.
        ssl_support_method="sni-only",
        minimum_protocol_version=MINIMUM_PROTOCOL_VERSION,
    )


def alias_records(
    site: pulumi.ComponentResource,
    name: str,
    domain: CustomDomain,
    domain_names: Sequence[str],
    distribution: aws.cloudfront.Distribution,
) -> list[aws.route53.Record]:
    """An alias `A` and `AAAA` record per name, pointing at the distribution (IPv6 is on)."""
    if domain.hosted_zone_id is None:
        return []
    records = []
    for domain_name in domain_names:
        for record_type in ("A", "AAAA"):
            records.append(
                aws.route53.Record(
                    f"{name}-{record_label(domain_name)}-{record_type.lower()}",
                    zone_id=domain.hosted_zone_id,
                    name=domain_name,
                    type=record_type,
                    aliases=[
                        aws.route53.RecordAliasArgs(
                            name=distribution.domain_name,
                            # Z2FDTNDATAQYW2, CloudFront's zone; alias records to it cost nothing.
                            zone_id=distribution.hosted_zone_id,
                            evaluate_target_health=False,
                        )
                    ],
                    opts=pulumi.ResourceOptions(parent=site),
                )
            )
    return records
