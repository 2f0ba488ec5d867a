"""The least-privilege IAM user of one environment: its policy document, creating it, removing it.

The user ``pni-dynamodb-<env>-user`` and the customer-managed policy ``pni-dynamodb-<env>-policy``
live under the path ``/pni-migration/``. The policy allows only the DynamoDB actions pni-migrate
calls, only on the env's tables (and their indexes), only in the env's region and the caller's
account. IAM and STS are reached through the env's ``endpoint_url`` when one is set (moto's server
answers them on the same port as DynamoDB), else through AWS's global endpoints.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pni_tasks.errors import TargetError
from pni_tasks.sink import boto_session, client_config

if TYPE_CHECKING:
    from pni_tasks.config import EnvSettings
    from pni_tasks.session import Session

IAM_PATH = "/pni-migration/"
MAX_POLICY_VERSIONS = 5  # IAM's limit per managed policy

# Every DynamoDB operation pni-migrate sends (sink.py, metadata.py, engine.py; the waiters only call
# DescribeTable). CreateTable with Tags also needs TagResource. Keep this in step with the code.
TABLE_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:CreateTable",
    "dynamodb:DeleteItem",
    "dynamodb:DeleteTable",
    "dynamodb:DescribeTable",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:TagResource",
)
# ListTables (inv validate's reachability check) has no resource-level permissions: IAM accepts it
# only with Resource "*". It reveals table names, not data; a condition keeps it to the env's region.
LIST_ACTIONS = ("dynamodb:ListTables",)

ROLE_ADVICE = (
    "No access key was created. Where pni-migrate runs on AWS or in CI, prefer a role to a long-lived "
    "key: attach the policy above to the EC2 instance profile, ECS task role or Lambda execution role, "
    "or to a role your CI assumes with OIDC (GitHub Actions, GitLab), and no secret needs storing. "
    "Rerun with --create-access-key only for a machine that cannot assume a role."
)

logger = logging.getLogger("pni")


@dataclass(frozen=True)
class IamNames:
    user: str
    policy: str
    path: str = IAM_PATH


def iam_names(env: EnvSettings) -> IamNames:
    return IamNames(user=f"pni-dynamodb-{env.name}-user", policy=f"pni-dynamodb-{env.name}-policy")


@dataclass(frozen=True)
class Caller:
    """Who the AWS credentials belong to (from STS)."""

    account: str
    arn: str

    @property
    def partition(self) -> str:
        # aws, aws-cn or aws-us-gov: taken from the caller's own ARN rather than guessed from the region
        return self.arn.split(":")[1]


def _client(env: EnvSettings, service: str) -> Any:
    return boto_session(env).client(service, endpoint_url=env.endpoint_url, config=client_config(env))


def iam_failure(exc: Exception, what: str, env: EnvSettings) -> TargetError:
    """One line for an IAM/STS error, naming the env and endpoint."""
    where = f"env {env.name!r}, endpoint {env.endpoint_url or 'AWS'}"
    if isinstance(exc, NoCredentialsError):
        return TargetError(f"{what}: no AWS credentials found ({where}): configure a profile, AWS_PROFILE or keys")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        hint = ": your identity lacks this IAM permission" if error.get("Code") == "AccessDenied" else ""
        return TargetError(f"{what}: {error.get('Code')}: {error.get('Message')} ({where}){hint}")
    return TargetError(f"{what}: {type(exc).__name__}: {exc} ({where})")


def caller(env: EnvSettings) -> Caller:
    try:
        identity = _client(env, "sts").get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        raise iam_failure(exc, "sts get_caller_identity", env) from None
    return Caller(account=identity["Account"], arn=identity["Arn"])


def table_names(session: Session) -> list[str]:
    """The physical names of the env's data tables and its metadata table."""
    return [session.env.table_name(spec.name) for spec in session.tables] + [session.env.metadata_table]


def table_arns(env: EnvSettings, tables: Iterable[str], who: Caller) -> list[str]:
    arns = []
    for name in tables:
        table = f"arn:{who.partition}:dynamodb:{env.region}:{who.account}:table/{name}"
        arns += [table, f"{table}/index/*"]
    return arns


def policy_document(session: Session, who: Caller) -> dict[str, Any]:
    """The policy of the env's user: the tool's DynamoDB actions on the env's tables only."""
    env = session.env
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "PniMigrateTables", "Effect": "Allow", "Action": list(TABLE_ACTIONS),
             "Resource": table_arns(env, table_names(session), who)},
            {"Sid": "ListTablesHasNoResourceScope", "Effect": "Allow", "Action": list(LIST_ACTIONS),
             "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": env.region}}},
        ],
    }


def policy_arn(names: IamNames, who: Caller) -> str:
    return f"arn:{who.partition}:iam::{who.account}:policy{names.path}{names.policy}"


# -------------------------------------------------------------------------------------------------
# Creating
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass
class IamOutcome:
    policy_arn: str
    user: str
    changes: list[str] = field(default_factory=list)  # what this call changed, one line each
    access_key: AccessKey | None = None


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _tags(session: Session) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in session.tags.items()]


def ensure_iam_user(session: Session, document: dict[str, Any], who: Caller, *,
                    create_access_key: bool = False) -> IamOutcome:
    """Create or update the env's policy and user, attach one to the other; idempotent.

    An access key is created only when asked, and only if the user has none (rotating means
    deleting the old key first: a second live key is how secrets leak).
    """
    env = session.env
    names = iam_names(env)
    iam = _client(env, "iam")
    outcome = IamOutcome(policy_arn=policy_arn(names, who), user=names.user)
    step = "iam"
    try:
        step = "iam get_policy"
        _ensure_policy(iam, session, names, outcome, document)
        step = "iam get_user"
        _ensure_user(iam, session, names, outcome)
        step = "iam attach_user_policy"
        attached = iam.list_attached_user_policies(UserName=names.user)["AttachedPolicies"]
        if outcome.policy_arn not in {p["PolicyArn"] for p in attached}:
            iam.attach_user_policy(UserName=names.user, PolicyArn=outcome.policy_arn)
            outcome.changes.append(f"attached policy {names.policy} to user {names.user}")
        if create_access_key:
            step = "iam create_access_key"
            outcome.access_key = _create_access_key(iam, names)
            outcome.changes.append(f"created access key {outcome.access_key.access_key_id} for user {names.user}")
    except (ClientError, BotoCoreError) as exc:
        raise iam_failure(exc, step, env) from None
    return outcome


def _ensure_policy(iam: Any, session: Session, names: IamNames, outcome: IamOutcome,
                   document: dict[str, Any]) -> None:
    try:
        policy = iam.get_policy(PolicyArn=outcome.policy_arn)["Policy"]
    except ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            raise
        iam.create_policy(PolicyName=names.policy, Path=names.path, PolicyDocument=json.dumps(document),
                          Description=f"pni-migrate: DynamoDB tables of env {session.env.name} only",
                          Tags=_tags(session))
        outcome.changes.append(f"created policy {outcome.policy_arn}")
        return
    current = iam.get_policy_version(PolicyArn=outcome.policy_arn,
                                     VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"]
    if isinstance(current, str):  # botocore decodes it; a server that does not gets it parsed here
        current = json.loads(current)
    if current == document:
        return
    versions = iam.list_policy_versions(PolicyArn=outcome.policy_arn)["Versions"]
    if len(versions) >= MAX_POLICY_VERSIONS:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]),
                     key=lambda v: (v["CreateDate"], int(v["VersionId"].lstrip("v") or 0)))
        iam.delete_policy_version(PolicyArn=outcome.policy_arn, VersionId=oldest["VersionId"])
        outcome.changes.append(f"deleted the oldest policy version {oldest['VersionId']} (IAM keeps at most 5)")
    created = iam.create_policy_version(PolicyArn=outcome.policy_arn, PolicyDocument=json.dumps(document),
                                        SetAsDefault=True)["PolicyVersion"]
    outcome.changes.append(f"updated policy {names.policy}: new default version {created['VersionId']}")


def _ensure_user(iam: Any, session: Session, names: IamNames, outcome: IamOutcome) -> None:
    try:
        user = iam.get_user(UserName=names.user)["User"]
    except ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            raise
        iam.create_user(UserName=names.user, Path=names.path, Tags=_tags(session))
        outcome.changes.append(f"created user {names.user} under {names.path}")
        return
    if user.get("Path") != names.path:
        logger.warning(f"user {names.user} already exists under path {user.get('Path')}, not {names.path}: "
                       "kept as it is")


def _create_access_key(iam: Any, names: IamNames) -> AccessKey:
    existing = iam.list_access_keys(UserName=names.user)["AccessKeyMetadata"]
    if existing:
        ids = ", ".join(key["AccessKeyId"] for key in existing)
        raise TargetError(
            f"user {names.user} already has access key(s) {ids}: no new key created; to rotate, delete the old "
            f"one first (aws iam delete-access-key --user-name {names.user} --access-key-id <id>) and rerun"
        )
    key = iam.create_access_key(UserName=names.user)["AccessKey"]
    return AccessKey(access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])


# -------------------------------------------------------------------------------------------------
# Listing and removing (inv cleanup --include-iam)
# -------------------------------------------------------------------------------------------------


@dataclass
class IamState:
    """What of the env's IAM user and policy exists now."""

    user: str
    policy_arn: str
    user_exists: bool = False
    access_keys: list[str] = field(default_factory=list)
    policy_exists: bool = False
    attached_to: list[str] = field(default_factory=list)  # every entity the policy is attached to

    @property
    def anything(self) -> bool:
        return self.user_exists or self.policy_exists


def iam_state(session: Session, who: Caller) -> IamState:
    env = session.env
    names = iam_names(env)
    iam = _client(env, "iam")
    state = IamState(user=names.user, policy_arn=policy_arn(names, who))
    step = "iam get_user"
    try:
        try:
            iam.get_user(UserName=names.user)
            state.user_exists = True
            step = "iam list_access_keys"
            keys = iam.list_access_keys(UserName=names.user)["AccessKeyMetadata"]
            state.access_keys = [key["AccessKeyId"] for key in keys]
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
        step = "iam get_policy"
        try:
            iam.get_policy(PolicyArn=state.policy_arn)
            state.policy_exists = True
            step = "iam list_entities_for_policy"
            entities = iam.list_entities_for_policy(PolicyArn=state.policy_arn)
            state.attached_to = ([f"user {u['UserName']}" for u in entities.get("PolicyUsers", [])]
                                 + [f"group {g['GroupName']}" for g in entities.get("PolicyGroups", [])]
                                 + [f"role {r['RoleName']}" for r in entities.get("PolicyRoles", [])])
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
    except (ClientError, BotoCoreError) as exc:
        raise iam_failure(exc, step, env) from None
    return state


def remove_iam_user(session: Session, state: IamState) -> list[str]:
    """Delete the user's access keys, detach and delete the policy (all its versions), delete the user."""
    env = session.env
    iam = _client(env, "iam")
    done: list[str] = []
    step = "iam"
    try:
        if state.user_exists:
            for key_id in state.access_keys:
                step = "iam delete_access_key"
                iam.delete_access_key(UserName=state.user, AccessKeyId=key_id)
                done.append(f"deleted access key {key_id} of user {state.user}")
        if state.policy_exists:
            # DeletePolicy refuses while the policy is attached anywhere or has non-default versions.
            for entity in state.attached_to:
                kind, name = entity.split(" ", 1)
                step = f"iam detach_{kind}_policy"
                getattr(iam, f"detach_{kind}_policy")(**{f"{kind.capitalize()}Name": name},
                                                       PolicyArn=state.policy_arn)
                done.append(f"detached policy from {entity}")
            step = "iam delete_policy_version"
            for version in iam.list_policy_versions(PolicyArn=state.policy_arn)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=state.policy_arn, VersionId=version["VersionId"])
            step = "iam delete_policy"
            iam.delete_policy(PolicyArn=state.policy_arn)
            done.append(f"deleted policy {state.policy_arn}")
        if state.user_exists:
            step = "iam delete_user"
            for attached in iam.list_attached_user_policies(UserName=state.user)["AttachedPolicies"]:
                iam.detach_user_policy(UserName=state.user, PolicyArn=attached["PolicyArn"])
            iam.delete_user(UserName=state.user)
            done.append(f"deleted user {state.user}")
    except (ClientError, BotoCoreError) as exc:
        raise iam_failure(exc, step, env) from None
    return done
