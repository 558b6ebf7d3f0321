"""The allow-list rules on their own: defaults, managers, roles, users and @everyone."""

from __future__ import annotations

import pytest

from bot.core.server_rules import BIND, CHAT, END_OTHERS, Grant, Member, ServerRules, abilities, use_provider

GUILD = 100
PATRONS = 200
BOB = 300

member = Member(BOB, frozenset({GUILD}))
patron = Member(400, frozenset({GUILD, PATRONS}))
manager = Member(500, frozenset({GUILD}), manages_server=True)
moderator = Member(600, frozenset({GUILD}), manages_threads=True)


def rules(**grants: tuple[Grant, ...]) -> ServerRules:
    return ServerRules(GUILD, grants={k.replace("__", ":"): v for k, v in grants.items()})


@pytest.mark.parametrize(
    ("ability", "who", "allowed"),
    [
        (CHAT, member, True),
        (use_provider("ablt"), member, True),
        (BIND, member, False),
        (BIND, manager, True),
        (END_OTHERS, member, False),
        (END_OTHERS, moderator, True),
        (BIND, moderator, False),
    ],
)
def test_defaults_everyone_chats_managers_administer(ability: str, who: Member, allowed: bool) -> None:
    assert ServerRules(GUILD).allows(ability, who) is allowed


def test_a_list_admits_its_roles_and_users_and_managers_only() -> None:
    listed = rules(chat=(Grant(PATRONS, "role"), Grant(BOB, "user")))
    assert listed.allows(CHAT, patron) and listed.allows(CHAT, member) and listed.allows(CHAT, manager)
    assert not listed.allows(CHAT, Member(700, frozenset({GUILD})))


def test_everyone_role_opens_an_ability_to_all() -> None:
    assert rules(bind=(Grant(GUILD, "role"),)).allows(BIND, member)


def test_a_provider_list_leaves_the_other_providers_open() -> None:
    only_patrons = rules(use__magicai=(Grant(PATRONS, "role"),))
    assert only_patrons.allows(use_provider("ablt"), member)
    assert not only_patrons.allows(use_provider("magicai"), member)
    assert only_patrons.allows(use_provider("magicai"), patron)


def test_abilities_list_one_use_per_provider_between_chat_and_administration() -> None:
    listed = list(abilities({"ablt": "aBLT", "magicai": "Magic AI"}))
    assert listed == [CHAT, "use:ablt", "use:magicai", BIND, END_OTHERS]
