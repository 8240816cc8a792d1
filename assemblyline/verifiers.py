"""The line's own checkers, as the settings' ASSEMBLY_LINE_VERIFIERS list (configured like
AUTH_PASSWORD_VALIDATORS: {"NAME": "dotted.path.Class", "LEVEL": n, "OPTIONS": {...}})."""

from __future__ import annotations


def default_verifiers(
    *,
    live_checks: bool,
    timeout: float,
    healthy_statuses: list[str],
    probe_requests: int,
    min_coverage: float,
    quality_blocks: bool,
) -> list[dict[str, object]]:
    """The spec check, the live checks of the built service (levels 1, 2, 5, 6; only with
    `live_checks`) and the checks of what the executor reported."""
    live: list[dict[str, object]] = [
        {
            "NAME": "verification.checks.live.HealthCheck",
            "LEVEL": 1,
            "OPTIONS": {"timeout": timeout, "healthy_statuses": healthy_statuses},
        },
        {
            "NAME": "verification.checks.live.EndpointsCheck",
            "LEVEL": 1,
            "OPTIONS": {"timeout": timeout},
        },
        {
            "NAME": "verification.checks.live.MalformedBodyCheck",
            "LEVEL": 1,
            "OPTIONS": {"timeout": timeout},
        },
        {
            "NAME": "verification.checks.live.UdcComplianceCheck",
            "LEVEL": 2,
            "OPTIONS": {"timeout": timeout},
        },
        {
            "NAME": "verification.checks.live.RegistryCheck",
            "LEVEL": 2,
            "OPTIONS": {"timeout": timeout},
        },
        {
            "NAME": "verification.checks.live_production.NoTracebackCheck",
            "LEVEL": 5,
            "OPTIONS": {"timeout": timeout},
        },
        {
            "NAME": "verification.checks.live_production.ProductionProbeCheck",
            "LEVEL": 6,
            "OPTIONS": {
                "timeout": timeout,
                "requests": probe_requests,
                "p95_ms": 500,
                "healthy_statuses": healthy_statuses,
            },
        },
    ]
    return [
        {
            "NAME": "verification.checks.spec.SpecCompleteCheck",
            "LEVEL": "spec",
            "OPTIONS": {
                "required_sections": [
                    "Purpose",
                    "Requirements",
                    "API Specs",
                    "Dependencies",
                    "Success Criteria",
                ],
            },
        },
        *(live if live_checks else []),
        {
            "NAME": "verification.checks.live_production.ReadinessArtifactsCheck",
            "LEVEL": 6,
            "OPTIONS": {},
        },
        {
            "NAME": "verification.checks.reported.TestCoverageCheck",
            "LEVEL": 3,
            "OPTIONS": {"min_coverage": min_coverage},
        },
        {
            "NAME": "verification.checks.reported.CodeQualityCheck",
            "LEVEL": 4,
            "OPTIONS": {"blocking": quality_blocks},
        },
        {
            "NAME": "verification.checks.reported.SecurityScanCheck",
            "LEVEL": 5,
            "OPTIONS": {},
        },
    ]
