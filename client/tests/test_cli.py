"""The `sessions` CLI on the client: in-process and over the dev server, and the installed console script."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SessionsBackend

from local.launcher import DevServerProcess
from sessions_client import SessionsClient, cli


def run(client: SessionsClient, *argv: str) -> tuple[int, str]:
    lines: list[str] = []
    code = cli.main(list(argv), client=client, write=lines.append, environ={})
    return code, "\n".join(lines)


def test_ls_show_history_rm_stats(sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(title="CLI session", app_name="cli-app")
    sessions_client.append_event(session.session_id, type="message", role="user", content="hello from the CLI")
    sessions_client.create_session(title="Other")

    code, table = run(sessions_client, "ls")
    assert code == 0 and "2 session(s)" in table and "CLI session" in table and session.session_id in table
    code, listed = run(sessions_client, "--json", "ls", "--app-name", "cli-app")
    assert code == 0 and [item["session_id"] for item in json.loads(listed)] == [session.session_id]
    assert len(json.loads(run(sessions_client, "--json", "ls", "--limit", "1")[1])) == 1

    code, shown = run(sessions_client, "show", session.session_id)
    assert code == 0 and "cli-app" in shown and "CLI session" in shown
    assert json.loads(run(sessions_client, "--json", "show", session.session_id)[1])["title"] == "CLI session"

    code, history = run(sessions_client, "history", session.session_id)
    assert code == 0 and "hello from the CLI" in history and "1 event(s)" in history
    events = json.loads(run(sessions_client, "--json", "history", session.session_id)[1])
    assert [event["seq"] for event in events] == [1]

    code, stats = run(sessions_client, "stats")
    assert code == 0 and "sessions active" in stats and "events_total" in stats
    assert json.loads(run(sessions_client, "--json", "stats")[1])["events_total"] == 1

    assert run(sessions_client, "rm", session.session_id)[0] == 0
    code, _ = run(sessions_client, "show", session.session_id)
    assert code == 1


def test_history_follow(sessions_client: SessionsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    session = sessions_client.create_session(title="followed")
    sessions_client.append_event(session.session_id, type="message", content="first")
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            for text in ("second", "third"):
                sessions_client.append_event(session.session_id, type="message", content=text)
        elif len(polls) == 3:
            sessions_client.append_event(session.session_id, type="message", content="fourth")
        elif len(polls) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.time, "sleep", sleep)
    code, output = run(sessions_client, "--json", "history", session.session_id, "--follow", "--interval", "0.5")
    assert code == 130 and polls == [0.5] * 5
    lines = [json.loads(line) for line in output.splitlines()]
    assert [event["seq"] for event in lines] == [1, 2, 3, 4]
    assert [event["content"] for event in lines] == ["first", "second", "third", "fourth"]


def test_errors_go_to_stderr(sessions_client: SessionsClient, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run(sessions_client, "show", "no-such-session")
    assert code == 1 and output == ""
    assert "404 session_not_found" in capsys.readouterr().err


# every subcommand with the arguments it needs ("{sid}": a session of the test)
SUBCOMMANDS: dict[str, list[str]] = {
    "ls": ["--limit", "5"],
    "show": ["{sid}"],
    "history": ["{sid}", "--payload"],
    "rm": ["{sid}"],
    "stats": [],
}


def subcommands_of_the_parser() -> set[str]:
    parser = cli.build_parser({})
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return set(commands.choices)


def test_every_subcommand_is_covered() -> None:
    assert set(SUBCOMMANDS) == subcommands_of_the_parser()


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_json_is_taken_before_and_after_the_subcommand(command: str) -> None:
    rest = [arg.format(sid="s-1") for arg in SUBCOMMANDS[command]]
    assert cli.parse_args(["--json", command, *rest], {}).json is True
    assert cli.parse_args([command, *rest, "--json"], {}).json is True
    assert cli.parse_args([command, "--json", *rest], {}).json is True
    assert cli.parse_args(["--json", command, *rest, "--json"], {}).json is True
    assert cli.parse_args([command, *rest], {}).json is False


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_json_after_the_subcommand_prints_what_json_before_it_does(
    sessions_client: SessionsClient, command: str
) -> None:
    outputs = []
    for position in ("before", "after"):
        session = sessions_client.create_session(title="json", session_id=f"s-json-{position}")
        sessions_client.append_event(session.session_id, type="message", content="hello")
        rest = [arg.format(sid=session.session_id) for arg in SUBCOMMANDS[command]]
        argv = ["--json", command, *rest] if position == "before" else [command, *rest, "--json"]
        code, output = run(sessions_client, *argv)
        assert code == 0, argv
        outputs.append(json.loads(output))  # JSON, not a table
        sessions_client.delete_session(session.session_id)
    before, after = outputs
    if command == "rm":
        assert (before, after) == ({"deleted": ["s-json-before"]}, {"deleted": ["s-json-after"]})
    elif command == "show":
        assert (before["session_id"], after["session_id"]) == ("s-json-before", "s-json-after")
    elif command == "history":
        assert [event["content"] for event in before] == [event["content"] for event in after] == ["hello"]
    elif command == "ls":
        assert [item["session_id"] for item in before] == ["s-json-before"]
        assert [item["session_id"] for item in after] == ["s-json-after"]
    else:
        assert before["sessions"]["active"] == after["sessions"]["active"] == 1


def test_configuration_from_the_environment() -> None:
    args = cli.parse_args(
        ["ls"],
        {
            "SESSIONS_URL": "http://x:1",
            "SESSIONS_USER": "u",
            "SESSIONS_TENANT": "t",
            "SESSIONS_ROLES": "admin, service",
        },
    )
    client = cli.client_from(args)
    assert client.base_url == "http://x:1" and client.identity is not None
    assert client.identity.headers() == {"X-User-Id": "u", "X-Tenant-Id": "t", "X-Roles": "admin,service"}
    token_client = cli.client_from(cli.parse_args(["ls"], {"SESSIONS_TOKEN": "tok", "SESSIONS_ACT_AS": "u-2"}))
    assert (token_client.token, token_client.user_id, token_client.identity) == ("tok", "u-2", None)
    assert cli.client_from(cli.parse_args(["ls"], {})).base_url == cli.DEFAULT_URL


@pytest.mark.e2e
def test_console_script_against_the_dev_server(client_dev_server: DevServerProcess) -> None:
    sessions_backend = SessionsBackend("dev_server", client_dev_server.api_url)
    script = shutil.which("sessions", path=str(Path(sys.executable).parent)) or shutil.which("sessions")
    assert script, "the sessions console script is installed with the package"
    client = sessions_backend.client()
    session = client.create_session(title="from the script")
    env = {
        **os.environ,
        "SESSIONS_URL": client_dev_server.api_url,
        "SESSIONS_USER": sessions_backend.user,
        "SESSIONS_TENANT": sessions_backend.tenant,
    }
    listed = subprocess.run([script, "--json", "ls"], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert [item["session_id"] for item in json.loads(listed.stdout)] == [session.session_id]
    table = subprocess.run([script, "ls"], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "from the script" in table.stdout
