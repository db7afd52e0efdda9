"""The stack as CloudFormation deploys it for given parameters, and what each function's role may do with a KMS key.

Shared by the template's unit tests and the permissions test: both resolve template.yaml with a
customer-managed key (KmsKeyArn) or without one, and read each role's KMS statements as grants.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from local.stack.template import Resolver, load_template, local_resolver

TEMPLATE = load_template()
# a key as an operator names it; the resolved stack runs in us-east-1 of account 123456789012 (PSEUDO_PARAMETERS)
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# what a deploy must give and the local stack leaves unset
IDENTITY_PROVIDER = {"JwtIssuer": "https://issuer.example.com", "JwtAudience": "client-id"}


def stack(names: dict[str, str] | None = None, **parameters: str) -> Resolver:
    """The template's resolver with these parameter values over the local ones."""
    base = local_resolver(names or {}, TEMPLATE)
    values = {**IDENTITY_PROVIDER, **base.parameters, **parameters}
    return Resolver(values, physical_names=base.physical_names, conditions=base.conditions)


def deployed(resolver: Resolver) -> dict[str, dict[str, Any]]:
    """Every resource the stack creates with the resolver's parameters (a false Condition leaves one out), resolved."""
    return {
        name: resolver.resolve(resource)
        for name, resource in TEMPLATE["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }


class KmsGrant(NamedTuple):
    """One statement on the key: the service it goes through (kms:ViaService), its actions, and the encryption
    context it is bound to (a context key and the values it allows)."""

    service: str
    actions: frozenset[str]
    context_key: str
    context_values: frozenset[str]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(resources: dict[str, dict[str, Any]], function: str) -> list[dict[str, Any]]:
    """Every statement of the function's role: its inline policies' and those of policies attached to it."""
    role = f"{function}Role"
    inline = resources[role]["Properties"].get("Policies", [])
    attached = [
        resource["Properties"]
        for resource in resources.values()
        if resource["Type"] == "AWS::IAM::RolePolicy" and resource["Properties"]["RoleName"] == role
    ]
    return [statement for policy in inline + attached for statement in policy["PolicyDocument"]["Statement"]]


def kms_grants(resources: dict[str, dict[str, Any]], function: str, key_arn: str = KEY_ARN) -> set[KmsGrant]:
    """The function's KMS statements as grants, each held to be exact on the way: allowed on this key's ARN only,
    through one service of this Region, bound to one encryption-context key."""
    grants = set()
    for statement in role_statements(resources, function):
        actions = as_list(statement["Action"])
        if not any(action.startswith("kms:") for action in actions):
            continue
        assert all(action.startswith("kms:") and "*" not in action for action in actions), statement
        assert statement["Effect"] == "Allow" and statement["Resource"] == key_arn, statement
        assert list(statement["Condition"]) == ["StringEquals"], statement
        equals = dict(statement["Condition"]["StringEquals"])
        service, region, suffix = equals.pop("kms:ViaService").split(".", 2)
        assert (region, suffix) == ("us-east-1", "amazonaws.com"), statement
        ((context_key, values),) = equals.items()
        assert context_key.startswith("kms:EncryptionContext:"), statement
        grants.add(
            KmsGrant(
                service,
                frozenset(actions),
                context_key.removeprefix("kms:EncryptionContext:"),
                frozenset(as_list(values)),
            )
        )
    return grants


# What a call made through each service needs of the key, as the services document it: DynamoDB decrypts the
# table's key as the caller (its own service generates the key); S3 generates a data key for a write and
# decrypts one for a read; Secrets Manager decrypts for a read; SQS does both for a sender. EventBridge's
# PutEvents needs nothing: the bus encrypts as its own service principal, under the key policy.
def table_grant(tables: set[str]) -> KmsGrant:
    return KmsGrant("dynamodb", frozenset({"kms:Decrypt"}), "aws:dynamodb:tableName", frozenset(tables))


def bucket_grant(bucket_arn: str, *, reads: bool, writes: bool) -> KmsGrant:
    actions = {"kms:Decrypt"} if reads else set()
    actions |= {"kms:GenerateDataKey"} if writes else set()
    return KmsGrant("s3", frozenset(actions), "aws:s3:arn", frozenset({bucket_arn}))  # a bucket key's context


def secret_grant(secret_arns: set[str]) -> KmsGrant:
    return KmsGrant("secretsmanager", frozenset({"kms:Decrypt"}), "SecretARN", frozenset(secret_arns))


def queue_grant(queue_arns: set[str]) -> KmsGrant:
    return KmsGrant("sqs", frozenset({"kms:GenerateDataKey", "kms:Decrypt"}), "aws:sqs:arn", frozenset(queue_arns))


def failure_queues(function: str, resolver: Resolver) -> set[str]:
    """The queues Lambda sends the function's failed event-source batches to, as the function's role."""
    events = TEMPLATE["Resources"][function]["Properties"].get("Events", {})
    return {
        resolver.resolve(event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
        for event in events.values()
        if "DestinationConfig" in event.get("Properties", {})
    }
