"""What Discord changes about the answers of an app used through a user's own installation.

* *Use External Apps* (``USE_EXTERNAL_APPS`` 1 << 50, topics/permissions.mdx): "Allows user-installed apps to
  send public responses. When disabled, users will still be allowed to use their apps but the responses will
  be ephemeral. This only applies to apps not also installed to the server." So in a guild the bot is not in,
  when the invoking member lacks it in the channel, Discord adds ``EPHEMERAL`` to the interaction's responses
  and followups (change-log.mdx, June 27 2024: "your app's responses will be ephemeral for the end user").
* Followups: "Apps are limited to 5 followup messages per interaction if it was initiated from a
  user-installed app and isn't installed in the server (meaning the authorizing integration owners object
  only contains ``USER_INSTALL``)" (receiving-and-responding.mdx "Create Followup Message"; the change log
  adds "This only affects the Create Followup Message endpoint"). The sixth gets JSON error 40094 "This
  interaction has hit the maximum number of follow up messages" (opcodes-and-status-codes.mdx; status 400 is
  inferred). A followup that fills a deferred response creates no message ("no new message will be
  created") and is not counted (inferred from "followup messages").
* The interaction token itself lasts 15 minutes, as for every interaction (see :mod:`.interactions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from .installs import USER_INSTALL
from .permissions import USE_EXTERNAL_APPS
from .records import EPHEMERAL_FLAG, InteractionRecord

if TYPE_CHECKING:
    from .interaction_context import Location

USER_INSTALL_FOLLOWUP_LIMIT = 5


def forces_ephemeral(location: Location) -> bool:
    """Whether Discord makes every response to an interaction at ``location`` ephemeral: a guild the bot is
    not in, where the member may not use external apps publicly."""
    permissions = location.member_permissions
    return location.guild_id is not None and not location.bot_present and not (permissions or 0) & USE_EXTERNAL_APPS


def as_sent(rec: InteractionRecord, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` as Discord applies it: with the ephemeral flag added when the interaction forces it."""
    if not rec.forced_ephemeral:
        return payload
    return {**payload, "flags": int(payload.get("flags") or 0) | EPHEMERAL_FLAG}


def only_user_installed(rec: InteractionRecord) -> bool:
    """Whether the app answers only through a user's installation (no GUILD_INSTALL owner)."""
    owners = rec.payload.get("authorizing_integration_owners") or {}
    return set(owners) == {str(USER_INSTALL)}


def check_followup_limit(rec: InteractionRecord) -> None:
    """400 40094 once a user-installed-only interaction already has its 5 followup messages."""
    if only_user_installed(rec) and len(rec.followups) >= USER_INSTALL_FOLLOWUP_LIMIT:
        rec.rejected_followups += 1
        raise errors.max_followups()
