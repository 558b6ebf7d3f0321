"""Where the application is installed: to guilds (the bot joins them) and, when the app supports it, to users'
own accounts (user-installable apps).

Sources (discord-api-docs): resources/application.mdx "Installation Context" (a server context, a user context,
"By default, newly-created apps only support installation to guilds"), "Application Integration Types"
(``GUILD_INSTALL`` 0, ``USER_INSTALL`` 1) and the example application's ``integration_types_config``
(``oauth2_install_params`` per type: ``applications.commands`` + ``bot`` for guilds, ``applications.commands``
alone for users, as "apps installed to a user context only support the applications.commands scope",
tutorials/developing-a-user-installable-app.mdx).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GUILD_INSTALL, USER_INSTALL = 0, 1
INTEGRATION_TYPES = (GUILD_INSTALL, USER_INSTALL)


@dataclass
class AppInstalls:
    """The installation contexts the application supports and the users who installed it to their account."""

    supported: set[int] = field(default_factory=lambda: {GUILD_INSTALL})
    users: set[int] = field(default_factory=set)

    @property
    def user_installable(self) -> bool:
        return USER_INSTALL in self.supported

    def installed_for(self, user_id: int) -> bool:
        """Whether ``user_id`` has the app on their account (and the app still supports that)."""
        return self.user_installable and user_id in self.users

    def integration_types_config(self) -> dict[str, Any]:
        """The application's ``integration_types_config``: one entry per supported installation context."""
        out: dict[str, Any] = {}
        if GUILD_INSTALL in self.supported:
            scopes = ["applications.commands", "bot"]
            out[str(GUILD_INSTALL)] = {"oauth2_install_params": {"scopes": scopes, "permissions": "2048"}}
        if USER_INSTALL in self.supported:
            params = {"scopes": ["applications.commands"], "permissions": "0"}
            out[str(USER_INSTALL)] = {"oauth2_install_params": params}
        return out
