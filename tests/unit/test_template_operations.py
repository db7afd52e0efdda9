"""template.yaml is safe and operable the day it is deployed; each test fails when one promise regresses.

Read with the dev server's loader (intrinsics in their long form), and for what SAM generates
(roles, the API stage, the event-source mapping), translated by SAM's own translator, offline.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

import pytest

from local.event_sources.event_filters import filters_of
from local.stack.template import Resolver, load_template, local_resolver, parameter_defaults, resources_of_type
from sessions.domain.models import SUMMARY_FIELDS

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = sorted(resources_of_type(TEMPLATE, "AWS::Serverless::Function"))
ALARMS = resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm")
TOPIC = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}


def resolver(**parameters: str) -> Resolver:
    base = local_resolver({}, TEMPLATE)
    return Resolver({**base.parameters, **parameters}, conditions=base.conditions)


@functools.cache
def translated() -> dict[str, Any]:
    """The template as SAM's transform turns it into CloudFormation (no AWS call: a stub policy map)."""
    import os

    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    from local.stack.template import TEMPLATE_PATH

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = yaml_parse(TEMPLATE_PATH.read_text(encoding="utf-8"))
    for resource in template["Resources"].values():  # local code paths, as `sam build` would upload them
        for key in ("CodeUri", "ContentUri"):
            if isinstance(resource.get("Properties", {}).get(key), str):
                resource["Properties"][key] = f"s3://bucket/{resource['Properties'][key]}"
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        return transform(template, {}, NoManagedPolicies())  # type: ignore[no-any-return]
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


# --- alarms -------------------------------------------------------------------------------------


def alarm_on(namespace: str, metric: str, dimension: dict[str, Any]) -> list[str]:
    return [
        name
        for name, alarm in ALARMS.items()
        if alarm["Properties"].get("Namespace") == namespace
        and alarm["Properties"].get("MetricName") == metric
        and dimension in alarm["Properties"].get("Dimensions", [])
    ]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_errors_and_a_throttles_alarm(function, metric):
    (name,) = alarm_on("AWS/Lambda", metric, {"Name": "FunctionName", "Value": {"Ref": function}})
    properties = ALARMS[name]["Properties"]
    assert properties["Statistic"] == "Sum" and properties["Threshold"] == 1
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_publishers_iterator_age_is_watched():
    (name,) = alarm_on("AWS/Lambda", "IteratorAge", {"Name": "FunctionName", "Value": {"Ref": "PublishEventsFunction"}})
    assert ALARMS[name]["Properties"]["Statistic"] == "Maximum"


@pytest.mark.parametrize("queue", sorted(resources_of_type(TEMPLATE, "AWS::SQS::Queue")))
def test_every_dead_letter_queue_alarms_on_its_first_message(queue):
    dimension = {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    (name,) = alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", dimension)
    properties = ALARMS[name]["Properties"]
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


@pytest.mark.parametrize(
    ("alarm", "metric", "threshold"), [("Api5xxRateAlarm", "5xx", 1), ("Api4xxRateAlarm", "4xx", 30)]
)
def test_api_error_rates_are_watched_as_a_share_of_requests(alarm, metric, threshold):
    properties = ALARMS[alarm]["Properties"]
    stats = {query["Id"]: query["MetricStat"]["Metric"] for query in properties["Metrics"] if "MetricStat" in query}
    api = [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
    assert stats["errors"] == {"Namespace": "AWS/ApiGateway", "MetricName": metric, "Dimensions": api}
    assert stats["requests"] == {"Namespace": "AWS/ApiGateway", "MetricName": "Count", "Dimensions": api}
    (returned,) = [query for query in properties["Metrics"] if query.get("ReturnData", True)]
    assert "100 * errors / requests" in returned["Expression"]
    assert properties["Threshold"] == threshold and properties["ComparisonOperator"] == "GreaterThanThreshold"


def test_a_cleanup_that_stops_completing_alarms_and_so_does_one_that_stops_running():
    properties = ALARMS["CleanupNotCompletingAlarm"]["Properties"]
    service = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    assert (properties["Namespace"], properties["MetricName"]) == ("SessionService", "runs_completed")
    assert sorted(properties["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": "function_name", "Value": {"Ref": "CleanupFunction"}},  # per stack: never another stack's runs
        {"Name": "service", "Value": service},
    ]
    assert properties["ComparisonOperator"] == "LessThanThreshold" and properties["Threshold"] == 1
    assert properties["TreatMissingData"] == "breaching"  # no run at all is no completed run
    assert properties["EvaluationPeriods"] == {"Ref": "CleanupOverdueHours"}


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok(alarm):
    properties = ALARMS[alarm]["Properties"]
    assert properties["AlarmActions"] == [TOPIC] and properties["OKActions"] == [TOPIC]
    assert properties["TreatMissingData"] in {"notBreaching", "breaching"}
    assert properties["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")  # unique per stack


def test_the_stack_makes_its_own_topic_only_without_alarm_topic_arn():
    assert TEMPLATE["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert RESOURCES["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert resolver().condition("CreateAlarmTopic")
    assert not resolver(AlarmTopicArn="arn:aws:sns:eu-west-1:123456789012:ops").condition("CreateAlarmTopic")
    assert not resolver().condition("SubscribeAlarmEmail")
    assert resolver(AlarmEmail="ops@example.com").condition("SubscribeAlarmEmail")
    assert TEMPLATE["Outputs"]["AlarmTopicArn"]["Value"] == TOPIC
    pattern = re.compile(TEMPLATE["Parameters"]["AlarmTopicArn"]["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("arn:aws:sns:eu-west-1:123456789012:ops-alarms")


def test_the_dashboard_is_json_and_shows_every_alarm():
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    references = set(re.findall(r"\$\{([^}]+)\}", body))
    for reference in references:
        assert reference.split(".")[0] in RESOURCES or reference.startswith("AWS::"), reference
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    (alarm_widget,) = [widget for widget in widgets if widget["type"] == "alarm"]
    assert len(alarm_widget["properties"]["alarms"]) == len(ALARMS)
    assert {f"{name}.Arn" for name in ALARMS} <= references


# --- the API: access logs, throttling, CORS ----------------------------------------------------


API = RESOURCES["HttpApi"]["Properties"]


def test_access_logs_are_json_lines_with_who_what_and_how_long_and_never_a_body():
    settings = API["AccessLogSettings"]
    log_group = settings["DestinationArn"]["Fn::GetAtt"][0]
    assert RESOURCES[log_group]["Type"] == "AWS::Logs::LogGroup"
    line = json.loads(settings["Format"])
    assert line["requestId"] == "$context.requestId"
    assert line["sub"] == "$context.authorizer.claims.sub"
    assert line["status"] == "$context.status"
    assert line["latencyMs"] == "$context.responseLatency"
    assert line["route"] == "$context.routeKey"
    assert not re.search(r"body|\$input|requestOverride|header|querystring", settings["Format"], re.IGNORECASE)


def test_every_route_is_throttled_by_parameters():
    assert API["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }
    for name in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit"):
        assert TEMPLATE["Parameters"][name]["MinValue"] >= 1
    stage = next(iter(of_type(translated(), "AWS::ApiGatewayV2::Stage").values()))["Properties"]
    assert stage["DefaultRouteSettings"] == API["DefaultRouteSettings"]
    assert stage["AccessLogSettings"]["DestinationArn"] == API["AccessLogSettings"]["DestinationArn"]


def test_cors_is_off_unless_origins_are_given():
    cors = API["CorsConfiguration"]["Fn::If"]
    assert cors[0] == "HasCors" and cors[2] == {"Ref": "AWS::NoValue"}
    assert cors[1]["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "CorsAllowedOrigins"}]}
    assert TEMPLATE["Parameters"]["CorsAllowedOrigins"]["Default"] == ""
    assert not resolver().condition("HasCors")
    allowed = resolver(CorsAllowedOrigins="https://app.example.com,https://admin.example.com")
    assert allowed.condition("HasCors")
    assert allowed.resolve(API["CorsConfiguration"])["AllowOrigins"] == [
        "https://app.example.com",
        "https://admin.example.com",
    ]
    api = next(iter(of_type(translated(), "AWS::ApiGatewayV2::Api").values()))
    assert api["Properties"]["Body"]["x-amazon-apigateway-cors"]["Fn::If"][0] == "HasCors"


# --- cost: list indexes, the publisher's filter --------------------------------------------------


def index(name: str) -> dict[str, Any]:
    (found,) = [i for i in RESOURCES["SessionsTable"]["Properties"]["GlobalSecondaryIndexes"] if i["IndexName"] == name]
    return found


LIST_INDEXES = ["ByUser", "ByAgent", "ByUserActivity", "ByApp", "ByAppActivity"]


@pytest.mark.parametrize("name", LIST_INDEXES)
def test_list_indexes_project_what_a_list_page_returns_and_filters_on_and_no_more(name):
    assert TEMPLATE["Parameters"]["ListIndexProjection"]["Default"] == "lean"
    projection = resolver().resolve(index(name)["Projection"])
    assert projection["ProjectionType"] == "INCLUDE"
    projected = set(projection["NonKeyAttributes"])
    filtered_on = {"expires_at", "deleted_at", "status", "session_type", "app_name"}  # store/queries.py
    assert set(SUMMARY_FIELDS) | filtered_on == projected
    assert not {"context", "checkpoint"} & projected  # what patches and appends rewrite the most


@pytest.mark.parametrize("name", LIST_INDEXES)
def test_a_stack_created_with_all_attributes_projected_can_keep_them(name):
    """DynamoDB cannot change an existing index's projection: such a stack deploys with ListIndexProjection=all."""
    assert resolver(ListIndexProjection="all").resolve(index(name)["Projection"]) == {"ProjectionType": "ALL"}


def test_the_publisher_is_invoked_only_for_session_items_and_cleanup_runs():
    stream = RESOURCES["PublishEventsFunction"]["Properties"]["Events"]["Stream"]["Properties"]
    patterns = [json.loads(entry["Pattern"]) for entry in stream["FilterCriteria"]["Filters"]]
    assert patterns == [
        {"dynamodb": {"Keys": {"SK": {"S": ["#SESSION"]}}}},
        {
            "eventName": ["INSERT"],
            "dynamodb": {"Keys": {"PK": {"S": ["#CLEANUP"]}, "SK": {"S": [{"prefix": "#RUN#"}]}}},
        },
        {  # an erasure job that completed: user.erased
            "eventName": ["MODIFY"],
            "dynamodb": {"Keys": {"SK": {"S": ["#ERASURE"]}}, "NewImage": {"status": {"S": ["completed"]}}},
        },
    ]
    assert len(filters_of(stream["FilterCriteria"])) == 3  # the dev server honours them
    mappings = of_type(translated(), "AWS::Lambda::EventSourceMapping").values()
    (mapping,) = [m for m in mappings if "PublishEventsFunction" in json.dumps(m["Properties"]["FunctionName"])]
    assert mapping["Properties"]["FilterCriteria"] == stream["FilterCriteria"]


# --- safety: retention, deletion, permissions ---------------------------------------------------


def test_nothing_is_retained_outside_prod():
    assert "AWS::LanguageExtensions" in TEMPLATE["Transform"]  # what resolves an Fn::If in DeletionPolicy
    assert TEMPLATE["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    for name, resource in RESOURCES.items():
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            value = resource.get(policy, "Delete")
            assert value != "Retain", (name, policy)
            assert resolver(Stage="dev").resolve(value) == "Delete", (name, policy)
    table = RESOURCES["SessionsTable"]
    assert resolver(Stage="prod").resolve(table["DeletionPolicy"]) == "Retain"
    assert resolver(Stage="prod").resolve(table["UpdateReplacePolicy"]) == "Retain"
    assert resolver(Stage="prod").resolve(table["Properties"]["DeletionProtectionEnabled"]) is True
    assert resolver(Stage="dev").resolve(table["Properties"]["DeletionProtectionEnabled"]) is False


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_has_its_own_role_and_log_group_and_no_reserved_concurrency(function):
    properties = RESOURCES[function]["Properties"]
    assert "Policies" not in properties and "ReservedConcurrentExecutions" not in properties
    role = properties["Role"]["Fn::GetAtt"][0]
    assert RESOURCES[role]["Type"] == "AWS::IAM::Role" and "ManagedPolicyArns" not in RESOURCES[role]["Properties"]
    log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
    name = RESOURCES[log_group]["Properties"]["LogGroupName"]
    assert name == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{function}"}
    statements = [s for p in RESOURCES[role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    logs = [s for s in statements if any(action.startswith("logs:") for action in s["Action"])]
    assert logs == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [log_group, "Arn"]},  # its own log group only
        }
    ]
    roles_using_it = [f for f in FUNCTIONS if RESOURCES[f]["Properties"]["Role"]["Fn::GetAtt"][0] == role]
    assert roles_using_it == [function]


def test_no_role_of_the_deployed_stack_has_a_managed_policy_or_a_wildcard_beyond_x_ray():
    roles = of_type(translated(), "AWS::IAM::Role")
    assert roles
    for name, role in roles.items():
        assert not role["Properties"].get("ManagedPolicyArns"), name
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in action for action in actions), name
                if statement["Resource"] == "*":
                    # X-Ray's actions have no resource-level permissions; these two are what active tracing needs
                    assert actions == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], name


def test_the_publisher_reads_only_this_stacks_stream():
    statements = RESOURCES["PublishEventsFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_action = {action: s["Resource"] for s in statements for action in s["Action"]}
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        assert by_action[action] == {"Fn::GetAtt": ["SessionsTable", "StreamArn"]}
    assert by_action["dynamodb:ListStreams"] == {"Fn::Sub": "${SessionsTable.Arn}/stream/*"}
    assert by_action["sqs:SendMessage"] == {"Fn::GetAtt": ["PublishDeadLetterQueue", "Arn"]}  # OnFailure


def test_every_log_group_has_retention():
    log_groups = resources_of_type(TEMPLATE, "AWS::Logs::LogGroup")
    assert len(log_groups) == len(FUNCTIONS) + 2  # the functions', the API's access log, the audit log
    for name, log_group in log_groups.items():
        assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    # and no function writes to a log group Lambda would create without retention
    for name, function in of_type(translated(), "AWS::Lambda::Function").items():
        assert function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in log_groups, name


def test_the_audit_log_policy_is_per_stack_scoped_to_its_log_group_and_optional():
    policy = RESOURCES["AuditLogGroupPolicy"]
    assert policy["Condition"] == "CreateAuditLogPolicy"
    assert policy["Properties"]["PolicyName"] == {"Fn::Sub": "${AWS::StackName}-audit-delivery"}
    document = json.loads(policy["Properties"]["PolicyDocument"]["Fn::Sub"].replace("${AuditLogGroup.Arn}", "ARN"))
    (statement,) = document["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Resource"] == "ARN"
    assert resolver().condition("CreateAuditLogPolicy")
    assert not resolver(AuditLogResourcePolicy="existing").condition("CreateAuditLogPolicy")
    # the account-wide policy EventBridge's console creates covers /aws/events/*
    name = RESOURCES["AuditLogGroup"]["Properties"]["LogGroupName"]["Fn::Sub"]
    assert name.startswith("/aws/events/")


def test_queues_and_tables_are_encrypted_and_tables_recoverable():
    # without KmsKeyArn: SQS-managed keys, the AWS-managed aws/dynamodb (with it: tests/unit/test_template_keys.py)
    for name, queue in resources_of_type(TEMPLATE, "AWS::SQS::Queue").items():
        assert resolver().resolve(queue["Properties"]["SqsManagedSseEnabled"]) is True, name
    for name, table in resources_of_type(TEMPLATE, "AWS::DynamoDB::Table").items():
        assert resolver().resolve(table["Properties"]["SSESpecification"]) == {"SSEEnabled": True}, name
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name


def test_parameter_defaults_deploy_without_any_value():
    """A first `sam deploy` with defaults only: every new parameter has one."""
    defaults = parameter_defaults(TEMPLATE)
    for name in (
        "AlarmTopicArn",
        "AlarmEmail",
        "CleanupOverdueHours",
        "ApiThrottlingRateLimit",
        "ApiThrottlingBurstLimit",
        "CorsAllowedOrigins",
        "CorsAllowedHeaders",
        "CorsPreflightCacheSeconds",
        "AuditLogResourcePolicy",
    ):
        assert "Default" in TEMPLATE["Parameters"][name], name
    assert defaults["AuditLogResourcePolicy"] == "create" and defaults["CorsAllowedOrigins"] == ""


def test_the_local_resolver_evaluates_conditions_instead_of_assuming_prod():
    conditions = copy.deepcopy(TEMPLATE["Conditions"])
    dev = Resolver({"Stage": "dev", "AlarmTopicArn": "", "AlarmEmail": "x@example.com"}, conditions=conditions)
    assert dev.resolve({"Fn::If": ["IsProd", "a", "b"]}) == "b"
    assert dev.condition("SubscribeAlarmEmail") and not dev.condition("Unknown")
    assert Resolver({"Stage": "prod"}, conditions=conditions).resolve({"Fn::If": ["IsProd", "a", "b"]}) == "a"
