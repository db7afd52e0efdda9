"""KmsKeyArn: without it nothing in the stack names a KMS key; with it every resource that keeps data is under that
key, and each function's role may use the key for exactly what its other permissions reach, through those services.

The template is resolved as CloudFormation deploys it for each value of the parameter (tests/key_grants.py).
The grants are also held to the calls each function really makes by tests/integration/test_permissions.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.stack.template import ROOT, resources_of_type
from tests.key_grants import (
    KEY_ARN,
    TEMPLATE,
    as_list,
    bucket_grant,
    deployed,
    failure_queues,
    kms_grants,
    queue_grant,
    role_statements,
    secret_grant,
    stack,
    table_grant,
)

PARAMETER = TEMPLATE["Parameters"]["KmsKeyArn"]
FUNCTIONS = sorted(resources_of_type(TEMPLATE, "AWS::Serverless::Function"))
WITHOUT, WITH = stack(), stack(KmsKeyArn=KEY_ARN)
DEPLOYED_WITHOUT, DEPLOYED_WITH = deployed(WITHOUT), deployed(WITH)


# --- the parameter --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        (KEY_ARN, True),
        ("arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab", True),  # multi-Region
        ("arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", True),
        ("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", True),
        ("arn:aws:kms:us-east-1:123456789012:alias/sessions", False),  # IAM cannot grant a key through its alias
        ("alias/sessions", False),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", False),  # a key id: the grants need the ARN
        ("arn:aws:s3:::a-bucket", False),
        (KEY_ARN + " ", False),
        (KEY_ARN.replace("1234abcd-", "1234abcd"), False),
    ],
)
def test_the_parameter_takes_a_key_arn_or_nothing(value, allowed):
    # CloudFormation matches the whole value (Java regex; this pattern means the same in Python)
    assert bool(re.fullmatch(PARAMETER["AllowedPattern"], value)) is allowed


def test_the_default_keeps_the_aws_keys():
    assert PARAMETER["Default"] == ""
    assert not WITHOUT.condition("HasKmsKey") and WITH.condition("HasKmsKey")


# --- without the parameter: nothing names a key -----------------------------------------------------


def test_without_the_parameter_nothing_in_the_stack_names_a_kms_key():
    text = json.dumps(DEPLOYED_WITHOUT).lower()
    assert "kms" not in text, re.findall(r".{60}kms.{60}", text)[:3]
    assert not resources_of_type({"Resources": DEPLOYED_WITHOUT}, "AWS::IAM::RolePolicy")


# --- with it: every resource that keeps data is under the key ---------------------------------------

# type -> (its properties with the key, without it): how each resource type names its key
UNDER_THE_KEY: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "AWS::DynamoDB::Table": (
        {"SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY_ARN}},
        {"SSESpecification": {"SSEEnabled": True}},  # the AWS-managed aws/dynamodb
    ),
    "AWS::S3::Bucket": (
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN},
                        "BucketKeyEnabled": True,
                    }
                ]
            }
        },
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            }
        },
    ),
    "AWS::SQS::Queue": (
        {"KmsMasterKeyId": KEY_ARN, "SqsManagedSseEnabled": False},
        {"SqsManagedSseEnabled": True},
    ),
    "AWS::Logs::LogGroup": ({"KmsKeyId": KEY_ARN}, {}),
    "AWS::SNS::Topic": ({"KmsMasterKeyId": KEY_ARN}, {}),
    "AWS::SecretsManager::Secret": ({"KmsKeyId": KEY_ARN}, {}),
    "AWS::Events::EventBus": ({"KmsKeyIdentifier": KEY_ARN}, {}),
    "AWS::Events::Archive": ({"KmsKeyIdentifier": KEY_ARN}, {}),
}
# what keeps no user data at rest, or is encrypted by what it belongs to (docs/data-governance.md)
HOLDS_NO_DATA = {
    "AWS::Serverless::Function",  # code and environment: names and limits, under Lambda's AWS-managed key
    "AWS::Serverless::LayerVersion",  # code
    "AWS::Serverless::HttpApi",  # routes; requests pass through, nothing is stored
    "AWS::IAM::Role",
    "AWS::IAM::RolePolicy",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Logs::ResourcePolicy",
    "AWS::Events::Rule",  # its pattern and target are encrypted with the bus's key
    "AWS::SNS::Subscription",  # an address
    "AWS::CloudWatch::Alarm",  # names and thresholds; alarm history stays in CloudWatch
    "AWS::CloudWatch::Dashboard",
}
KEYED = [
    (name, resource["Type"])
    for name, resource in sorted(TEMPLATE["Resources"].items())
    if resource["Type"] in UNDER_THE_KEY
]


def test_every_resource_type_of_the_stack_is_under_the_key_or_holds_no_data():
    types = {resource["Type"] for resource in TEMPLATE["Resources"].values()}
    assert types - set(UNDER_THE_KEY) - HOLDS_NO_DATA == set(), "a new kind of resource: does it keep data?"
    assert {resource_type for _, resource_type in KEYED} == set(UNDER_THE_KEY)


@pytest.mark.parametrize(("name", "resource_type"), KEYED)
def test_with_the_parameter_each_resource_is_under_the_key(name, resource_type):
    properties = DEPLOYED_WITH[name]["Properties"]
    for key, value in UNDER_THE_KEY[resource_type][0].items():
        assert properties[key] == value, (name, key)


@pytest.mark.parametrize(("name", "resource_type"), KEYED)
def test_without_it_each_resource_keeps_the_encryption_it_had(name, resource_type):
    properties = DEPLOYED_WITHOUT[name]["Properties"]
    with_key, without_key = UNDER_THE_KEY[resource_type]
    for key in with_key:
        assert properties.get(key) == without_key.get(key), (name, key)


def test_the_bus_sends_what_it_cannot_encrypt_to_the_events_queue_which_takes_it():
    bus = DEPLOYED_WITH["SessionsBus"]["Properties"]
    assert bus["DeadLetterConfig"] == {"Arn": "EventsDeadLetterQueue.Arn"}
    assert "DeadLetterConfig" not in DEPLOYED_WITHOUT["SessionsBus"]["Properties"]

    def senders(resources: dict[str, Any]) -> set[str]:
        statements = resources["EventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        return {
            statement["Condition"]["ArnEquals"]["aws:SourceArn"]
            for statement in statements
            if statement["Principal"] == {"Service": "events.amazonaws.com"}
            and statement["Action"] == "sqs:SendMessage"
        }

    assert senders(DEPLOYED_WITH) == {"AuditRule.Arn", "SessionsBus.Arn"}
    assert senders(DEPLOYED_WITHOUT) == {"AuditRule.Arn"}


# --- the bucket refuses objects under another key ----------------------------------------------------


def denied(statements: list[dict[str, Any]], context: dict[str, str]) -> bool:
    """Whether a Deny statement of the bucket policy matches an s3:PutObject with this request context.

    IAM's rules for what the policy uses: every operator of a Condition must match, and every key of an
    operator; Null "true" matches an absent key; a negated operator matches an absent key.
    """
    matchers = {
        "Bool": lambda value, expected: value is not None and value == expected,
        "StringNotEquals": lambda value, expected: value is None or value not in as_list(expected),
        "Null": lambda value, expected: (value is None) == (expected == "true"),
    }
    for statement in statements:
        if statement["Effect"] != "Deny" or not {"s3:*", "s3:PutObject"} & set(as_list(statement["Action"])):
            continue
        if all(
            matchers[operator](context.get(key), expected)
            for operator, keys in statement["Condition"].items()
            for key, expected in keys.items()
        ):
            return True
    return False


KEY_ID = "s3:x-amz-server-side-encryption-aws-kms-key-id"
ALGORITHM = "s3:x-amz-server-side-encryption"
TLS = {"aws:SecureTransport": "true"}


@pytest.mark.parametrize(
    ("upload", "refused"),
    [
        ({}, False),  # the bucket's default: the key
        ({ALGORITHM: "aws:kms", KEY_ID: KEY_ARN}, False),
        ({ALGORITHM: "aws:kms"}, True),  # would be the AWS-managed aws/s3
        ({ALGORITHM: "AES256"}, True),  # S3's own key
        ({ALGORITHM: "aws:kms", KEY_ID: KEY_ARN.replace("1234abcd", "99999999")}, True),  # another key
        ({ALGORITHM: "aws:kms:dsse", KEY_ID: "arn:aws:kms:us-east-1:123456789012:key/other"}, True),
        ({"aws:SecureTransport": "false"}, True),  # refused before, refused still
    ],
)
def test_under_the_key_the_bucket_refuses_an_upload_under_another_one(upload, refused):
    statements = DEPLOYED_WITH["EventBlobsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert denied(statements, {**TLS, **upload}) is refused


def test_without_the_key_the_bucket_refuses_only_what_it_refused_before():
    statements = DEPLOYED_WITHOUT["EventBlobsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [statement["Sid"] for statement in statements] == ["TlsOnly"]
    assert not denied(statements, {**TLS, ALGORITHM: "AES256"})
    assert denied(statements, {"aws:SecureTransport": "false"})


# --- each role: the key for what its other permissions reach, through those services ---------------


def needed_by_permissions(resources: dict[str, dict[str, Any]], function: str) -> set[Any]:
    """What the role's other statements need of the key, read from the resources they name and the
    queues Lambda sends its failures to as the role (tests/key_grants.py says what each service needs)."""
    tables, bucket_actions, secrets = set(), set(), set()
    for statement in role_statements(resources, function):
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                logical_id = resource.split(".")[0].split("/")[0]
                if action.startswith("dynamodb:"):
                    tables.add(WITH.resolve({"Ref": logical_id}))
                elif action in ("s3:GetObject", "s3:PutObject"):
                    bucket_actions.add((action, WITH.resolve({"Fn::GetAtt": [logical_id, "Arn"]})))
                elif action == "secretsmanager:GetSecretValue":
                    secrets.add(resource)
    needed: set[Any] = {table_grant(tables)} if tables else set()
    for bucket in {bucket for _, bucket in bucket_actions}:
        reads, writes = ("s3:GetObject", bucket) in bucket_actions, ("s3:PutObject", bucket) in bucket_actions
        needed.add(bucket_grant(bucket, reads=reads, writes=writes))
    needed |= {secret_grant(secrets)} if secrets else set()
    queues = failure_queues(function, WITH)
    return needed | ({queue_grant(queues)} if queues else set())


@pytest.mark.parametrize("function", FUNCTIONS)
def test_with_the_key_each_role_may_use_it_for_what_its_permissions_reach_and_nothing_more(function):
    assert kms_grants(DEPLOYED_WITH, function) == needed_by_permissions(DEPLOYED_WITH, function)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_without_the_key_no_role_has_a_kms_grant(function):
    assert kms_grants(DEPLOYED_WITHOUT, function) == set()


def test_the_key_grants_are_separate_policies_of_the_functions_roles_made_only_with_the_key():
    """Apart from the roles, so checkov keeps checking each role (it skips a statement list holding an Fn::If)."""
    policies = resources_of_type(TEMPLATE, "AWS::IAM::RolePolicy")
    assert sorted(policies) == [f"{function}KmsPolicy" for function in FUNCTIONS]
    for name, policy in policies.items():
        assert policy["Condition"] == "HasKmsKey", name
        assert policy["Properties"]["RoleName"] == {"Ref": name.replace("KmsPolicy", "Role")}, name
    for function in FUNCTIONS:  # the roles themselves never mention KMS
        role = TEMPLATE["Resources"][f"{function}Role"]["Properties"]
        assert "kms" not in json.dumps(role).lower(), function


def test_only_the_publisher_sends_to_a_queue_and_only_to_its_own():
    senders = {function: failure_queues(function, WITH) for function in FUNCTIONS if failure_queues(function, WITH)}
    assert senders == {"PublishEventsFunction": {"PublishDeadLetterQueue.Arn"}}
    assert queue_grant({"PublishDeadLetterQueue.Arn"}) in kms_grants(DEPLOYED_WITH, "PublishEventsFunction")


# --- the operator's page gives a key policy that parses and lets each service principal in ----------

DATA_GOVERNANCE = ROOT / "docs" / "data-governance.md"


def key_policy_example() -> dict[str, Any]:
    text = DATA_GOVERNANCE.read_text(encoding="utf-8")
    (block,) = re.findall(r"```json\n(\{\n  \"Version\".*?)\n```", text, re.DOTALL)
    policy: dict[str, Any] = json.loads(block)
    return policy


def test_the_documented_key_policy_lets_in_the_account_and_each_service_that_uses_the_key_as_itself():
    statements = key_policy_example()["Statement"]
    principals = {json.dumps(statement["Principal"], sort_keys=True) for statement in statements}
    for principal in (
        {"AWS": "arn:aws:iam::111122223333:root"},  # IAM policies (the roles' grants) take effect
        {"Service": "logs.eu-west-1.amazonaws.com"},
        {"Service": "events.amazonaws.com"},
        {"Service": "cloudwatch.amazonaws.com"},
    ):
        assert json.dumps(principal, sort_keys=True) in principals, principal
    for statement in statements:  # each service only for this stack's resources, but DescribeKey (no context)
        if "Service" in statement["Principal"] and statement["Action"] != "kms:DescribeKey":
            assert statement.get("Condition"), statement
