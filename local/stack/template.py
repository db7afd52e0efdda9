"""Read template.yaml the way CloudFormation would, for the dev server and the tests.

The tables, buckets and bus are created from the template's own resource definitions, so what runs
locally cannot drift from what is deployed. What only AWS runs (roles, log groups, alarms, the
dashboard, topics, the API stage's settings) is read by no one here and ignored.
"""

from __future__ import annotations

import functools
import secrets as _secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns short-form intrinsics (!Ref, !GetAtt, !Sub …) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@functools.cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        return yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


# What samconfig.toml is to a deployed stack: the local stack's parameter values beside the defaults.
# The dev server stands in for one single-tenant deployment, so a caller without X-Tenant-Id is in
# tenant "default" (`DEFAULT_TENANT= make dev` refuses them, as a multi-tenant stack does).
LOCAL_PARAMETERS = {"DefaultTenant": "default"}


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    """Each parameter's Default; one without (JwtIssuer …) is left out: only a deploy can give it."""
    return {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}


class MissingParameter(ValueError):
    """The template refers to a parameter that has neither a Default nor a local value."""


# The pseudo parameters' values for a local stack: those of a stack in us-east-1 of an example account.
PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


class _NoValue:
    """What `Ref: AWS::NoValue` stands for: the property or list item is left out."""


NO_VALUE = _NoValue()


@dataclass
class Resolver:
    """Evaluates the intrinsics the template uses, against local names and parameter values."""

    parameters: dict[str, str]
    physical_names: dict[str, str] = field(default_factory=dict)
    stack_name: str = "sessions-local"
    conditions: dict[str, Any] = field(default_factory=dict)  # the template's Conditions section
    unset_parameters: frozenset[str] = frozenset()  # declared, with no value here: resolving one is an error

    def resolve(self, value: Any) -> Any:
        """The value as CloudFormation would deploy it (None for a bare AWS::NoValue)."""
        resolved = self._resolve(value)
        return None if resolved is NO_VALUE else resolved

    def decide(self, value: Any) -> Any:
        """The value with each Fn::If decided and AWS::NoValue left out; every other intrinsic as written.

        What a test compares with the template's own text (`{"Fn::GetAtt": [...]}`) once the
        parameters have chosen the branches.
        """
        decided = self._decide(value)
        return None if decided is NO_VALUE else decided

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return _present(self._resolve(item) for item in value)
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                return f"{self.physical_names.get(arg[0], arg[0])}.{arg[1]}"
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self._resolve(if_true if self.condition(name) else if_false)
            if key in _CONDITION_FUNCTIONS:
                return _CONDITION_FUNCTIONS[key](self, arg)
            if key == "Fn::Split":
                return str(self._resolve(arg[1])).split(arg[0])
            if key == "Fn::Join":
                return str(arg[0]).join(str(item) for item in self._resolve(arg[1]))
        return _present_items((key, self._resolve(item)) for key, item in value.items())

    def _decide(self, value: Any) -> Any:
        if isinstance(value, list):
            return _present(self._decide(item) for item in value)
        if not isinstance(value, dict):
            return value
        if value == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        if len(value) == 1 and "Fn::If" in value:
            name, if_true, if_false = value["Fn::If"]
            return self._decide(if_true if self.condition(name) else if_false)
        return _present_items((key, self._decide(item)) for key, item in value.items())

    def condition(self, name: str) -> bool:
        """A condition of the template on the local parameter values (an unknown one is false)."""
        return name in self.conditions and bool(self.resolve(self.conditions[name]))

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.unset_parameters:
            raise MissingParameter(f"template parameter {name} has no Default: give it a value in LOCAL_PARAMETERS")
        if name == "AWS::StackName":
            return self.stack_name
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        return self.physical_names.get(name, name)

    def _sub(self, text: str) -> str:
        import re

        return re.sub(r"\$\{([^}]+)\}", lambda match: str(self._sub_variable(match.group(1))), text)

    def _sub_variable(self, name: str) -> Any:
        """${Name} is a Ref; ${Resource.Attribute} a GetAtt."""
        resource, dot, attribute = name.partition(".")
        if dot and not name.startswith("AWS::"):
            return f"{self.physical_names.get(resource, resource)}.{attribute}"
        return self._ref(name)


def _present(items: Iterable[Any]) -> list[Any]:
    return [item for item in items if item is not NO_VALUE]


def _present_items(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {key: item for key, item in items if item is not NO_VALUE}


_CONDITION_FUNCTIONS: dict[str, Any] = {
    "Fn::Equals": lambda resolver, arg: str(resolver.resolve(arg[0])) == str(resolver.resolve(arg[1])),
    "Fn::Not": lambda resolver, arg: not resolver.resolve(arg[0]),
    "Fn::And": lambda resolver, arg: all(resolver.resolve(item) for item in arg),
    "Fn::Or": lambda resolver, arg: any(resolver.resolve(item) for item in arg),
    "Condition": lambda resolver, name: resolver.condition(name),
}


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    routes: list[tuple[str, str]]  # (method, path) of each HttpApi event


def function_specs(template: dict[str, Any], resolver: Resolver) -> dict[str, FunctionSpec]:
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    specs = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        variables = {**globals_env, **props.get("Environment", {}).get("Variables", {})}
        routes = [
            (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
            for event in props.get("Events", {}).values()
            if event["Type"] == "HttpApi"
        ]
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=ROOT / props["CodeUri"],
            handler=props["Handler"],
            environment={key: str(resolver.resolve(value)) for key, value in variables.items()},
            routes=routes,
        )
    return specs


def functions_environment(specs: Iterable[FunctionSpec]) -> dict[str, str]:
    """Every function's variables in one mapping (they agree where they overlap), for handlers run in one process."""
    return {key: value for spec in specs for key, value in spec.environment.items()}


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def create_table_kwargs(table_name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The CreateTable call that CloudFormation would make for an AWS::DynamoDB::Table."""
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if properties.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    if properties.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    return kwargs


def create_aws_resources(session: Any, template: dict[str, Any] | None = None) -> dict[str, str]:
    """Create every table, bucket, secret, queue and bus of the template; return logical → physical names."""
    template = template or load_template()
    resolver = local_resolver({}, template)
    names: dict[str, str] = {}
    dynamodb = session.client("dynamodb")
    for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        table_name = f"{resolver.stack_name}-{logical_id}"
        properties = resolver.resolve(resource["Properties"])
        dynamodb.create_table(**create_table_kwargs(table_name, properties))
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        names[logical_id] = table_name
    s3 = session.client("s3")
    for logical_id in resources_of_type(template, "AWS::S3::Bucket"):
        # a name CloudFormation could generate: lower case, from the stack and the logical id
        bucket_name = f"{resolver.stack_name}-{logical_id}".lower()
        s3.create_bucket(Bucket=bucket_name)
        names[logical_id] = bucket_name
    secrets = session.client("secretsmanager")
    for logical_id in resources_of_type(template, "AWS::SecretsManager::Secret"):
        # like GenerateSecretString: a fresh random value for every local stack
        created = secrets.create_secret(Name=f"{resolver.stack_name}-{logical_id}", SecretString=secrets_token())
        names[logical_id] = created["ARN"]
    sqs = session.client("sqs")
    for logical_id in resources_of_type(template, "AWS::SQS::Queue"):
        # dead-letter queues: where the stream feeder sends what it gave up on, as Lambda would
        queue_name = f"{resolver.stack_name}-{logical_id}"
        sqs.create_queue(QueueName=queue_name)
        names[logical_id] = queue_name
    events = session.client("events")
    for logical_id, resource in resources_of_type(template, "AWS::Events::EventBus").items():
        bus_name = resolver.resolve(resource["Properties"]["Name"])
        events.create_event_bus(Name=bus_name)
        names[logical_id] = bus_name
    return names


def secrets_token() -> str:
    return _secrets.token_urlsafe(48)


def local_parameters(template: dict[str, Any]) -> dict[str, str]:
    return {**parameter_defaults(template), **LOCAL_PARAMETERS}


def local_resolver(names: dict[str, str], template: dict[str, Any] | None = None) -> Resolver:
    template = template or load_template()
    values = local_parameters(template)
    unset = frozenset(template.get("Parameters", {})) - values.keys()
    return Resolver(values, physical_names=names, conditions=template.get("Conditions", {}), unset_parameters=unset)


def function_property(template: dict[str, Any], logical_id: str, name: str) -> Any:
    """A function's property as SAM applies Globals: its own value, else Globals.Function's, else None."""
    own = template["Resources"][logical_id].get("Properties", {})
    if name in own:
        return own[name]
    return template.get("Globals", {}).get("Function", {}).get(name)
