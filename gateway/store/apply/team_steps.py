"""Apply steps for the team every synced active user belongs to (rule 5)."""

from __future__ import annotations

from gateway.identity.rules import ENTRA_TEAM_KEY, ENTRA_TEAM_NAME, name_key
from gateway.store.apply.sql import SqlSteps


class TeamSteps(SqlSteps):
    team_id: int
    team_members: int
    team_was_complete: bool

    def _ensure_entra_team(self) -> int:
        """The team every synced active user belongs to (rule 5), created on first use."""
        team_id = self._scalar(
            "SELECT id FROM teams WHERE tenant_id = :t AND system_key = :key", key=ENTRA_TEAM_KEY
        )
        if team_id:
            return team_id
        existing = self._scalar(
            "SELECT id FROM teams WHERE tenant_id = :t AND name_key = :name_key",
            name_key=name_key(ENTRA_TEAM_NAME),
        )
        if existing:
            # An admin made a team of that name first: adopt it rather than fail.
            self._run(
                "UPDATE teams SET system_key = :key WHERE id = :id", key=ENTRA_TEAM_KEY, id=existing
            )
            return existing
        self._run(
            """
            INSERT INTO teams (tenant_id, name, name_key, system_key, created_at)
            VALUES (:t, :name, :name_key, :key, :now)
            """,
            name=ENTRA_TEAM_NAME,
            name_key=name_key(ENTRA_TEAM_NAME),
            key=ENTRA_TEAM_KEY,
        )
        return self._scalar(
            "SELECT id FROM teams WHERE tenant_id = :t AND system_key = :key", key=ENTRA_TEAM_KEY
        )

    def _apply_team_memberships(self) -> None:
        """Every user this source has enabled is in the Entra team, owned by the
        source, and no one else is: re-evaluated each run, so a manual removal
        is undone (rule 5).

        Only applies write the source's rows and between applies rows can only
        go, so when the count is what the last apply left, the rows still match
        the links and only the users this batch touched need a look.
        """
        touched = ""
        if self.team_was_complete:
            touched = """AND {column} IN (
                SELECT user_id FROM stg_affected
                UNION SELECT user_id FROM stg_users WHERE created)"""
        self._run(
            f"""
            INSERT INTO stg_team_add (user_id)
            SELECT us.user_id FROM user_sources us
            WHERE us.tenant_id = :t AND us.source = :s AND us.enabled
              {touched.format(column="us.user_id")}
              AND NOT EXISTS (
                SELECT 1 FROM team_memberships tm
                WHERE tm.team_id = :team AND tm.user_id = us.user_id AND tm.owner = :s)
            """,
            team=self.team_id,
        )
        self._run(
            f"""
            INSERT INTO stg_team_remove (user_id)
            SELECT tm.user_id FROM team_memberships tm
            WHERE tm.team_id = :team AND tm.owner = :s
              {touched.format(column="tm.user_id")}
              AND NOT EXISTS (
                SELECT 1 FROM user_sources us
                WHERE us.user_id = tm.user_id AND us.source = :s AND us.enabled)
            """,
            team=self.team_id,
        )
        team_json = self._json(team_id="CAST(:team AS VARCHAR(32))", owner=":s")
        added = self._run_audit_team("team_membership.added", "stg_team_add", after=team_json)
        removed = self._run_audit_team(
            "team_membership.removed", "stg_team_remove", before=team_json
        )
        self._run(
            "UPDATE source_states SET team_members = :n WHERE tenant_id = :t AND source = :s",
            n=self.team_members + added - removed,
        )
        self._run(
            """
            INSERT INTO team_memberships (team_id, user_id, owner, tenant_id, created_at)
            SELECT :team, user_id, :s, :t, :now FROM stg_team_add
            """,
            team=self.team_id,
        )
        self._run(
            """
            DELETE FROM team_memberships
            WHERE team_id = :team AND owner = :s
              AND user_id IN (SELECT user_id FROM stg_team_remove)
            """,
            team=self.team_id,
        )

    def _run_audit_team(self, action: str, table: str, **json_parts: str) -> int:
        self.params["team"] = self.team_id
        return self._audit(action, "user", "x.user_id", f"FROM {table} x", **json_parts)
